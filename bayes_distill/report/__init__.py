"""Layer 6: the report of a fitted posterior, one self-contained HTML page and a Markdown file with its PNGs.

``write_report(posterior, out_dir)`` (Python) and ``bayes-distill report posterior.nc --out DIR`` (the command line's
``bayes_distill.cli.report``) write the coefficients with their diagnostics, the posterior
predictive check, the compute-optimal plans, the crossover and P(distillation wins) at the runs' scale in the four
scenarios, and the figures of ``bayes_distill.plots``; given candidate runs, a target and a budget (``NextRuns``;
``--candidates``, ``--target``, ``--budget``), also which of the candidates to train next.

The content is built once (``sections``: ``Section`` objects of text and tables) and rendered twice (``render``);
the figures are drawn apart (``figures``). A figure that fails to draw is shown as "figure X failed: <error>" in
its place, the rest of the report is written, and the command exits 1.
"""

from bayes_distill.report.content import Figure, Report, Section, Table
from bayes_distill.report.next_runs import NextRuns
from bayes_distill.report.write import (
    ReportFiles,
    ReportWarning,
    load_report_posterior,
    report_content,
    report_from_file,
    write_report,
)

__all__ = ["Figure", "NextRuns", "Report", "ReportFiles", "ReportWarning", "Section", "Table", "load_report_posterior",
           "report_content", "report_from_file", "write_report"]
