"""Writing the report: its answers and figures computed, its content built once, rendered to Markdown and HTML,
and every file written atomically (PNGs first, then report.md, then report.html), so that a report whose
report.html exists is complete."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bayes_distill.atomic import atomic_path
from bayes_distill.inference import diagnose
from bayes_distill.report.answers import PLANNING_DRAWS, planning_answers, predictive_check
from bayes_distill.report.content import Figure, Report
from bayes_distill.report.figures import draw_figures
from bayes_distill.report.next_runs import NextRuns
from bayes_distill.report.render import to_html, to_markdown
from bayes_distill.report.sections import build_report

HTML_NAME = "report.html"
MARKDOWN_NAME = "report.md"


class ReportWarning(UserWarning):
    """A figure of the report failed to draw; the report shows a note in its place."""


@dataclass(frozen=True)
class ReportFiles:
    """The files a report wrote: the self-contained HTML, the Markdown, and the PNGs beside the Markdown.

    ``failures`` holds a note per figure that failed to draw (shown in the report in its place); empty when all
    were drawn.
    """

    html: Path
    markdown: Path
    figures: tuple[Path, ...]
    failures: tuple[str, ...] = ()


def load_report_posterior(path: str | os.PathLike[str]) -> Any:
    """Read a posterior file for a report; any failure is a ValueError that names the path."""
    from bayes_distill.posterior import load_posterior

    try:
        return load_posterior(path)
    except ValueError:
        raise
    except Exception as error:  # noqa: BLE001 - h5netcdf, netCDF4 and xarray raise many kinds for a bad file
        raise ValueError(f"cannot read {str(path)!r} as a bayes_distill posterior: {type(error).__name__}: "
                         f"{error}") from error


def report_content(posterior: Any, source: str | None = None, planning_draws: int | None = PLANNING_DRAWS,
                   next_runs: NextRuns | None = None) -> Report:
    """The report's content: the posterior's diagnostics, predictive check, planning answers and figures (the
    planning answers and figures from at most ``planning_draws`` draws; None: all), and what to train next when
    ``next_runs`` asks."""
    section = next_runs.section(posterior) if next_runs else None  # first: a bad candidate table fails fast
    answers = planning_answers(posterior, max_draws=planning_draws) if posterior.fits_distillation else None
    figures = draw_figures(posterior, max_draws=planning_draws)
    return build_report(posterior, source, diagnose(posterior.tree), predictive_check(posterior), answers, figures,
                        section)


def _write_bytes(path: Path, data: bytes) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return path


def write_files(report: Report, out_dir: str | os.PathLike[str]) -> ReportFiles:
    """Write ``report`` into ``out_dir`` (created if missing): the PNGs, report.md, then report.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    drawn: list[Figure] = [f for f in report.figures if not f.failed]
    pngs = tuple(_write_bytes(out / f.filename, f.png) for f in drawn)
    markdown = _write_bytes(out / MARKDOWN_NAME, to_markdown(report).encode("utf-8"))
    page = _write_bytes(out / HTML_NAME, to_html(report).encode("utf-8"))
    failures = tuple(f.failure_note for f in report.figures if f.failed)
    return ReportFiles(page, markdown, pngs, failures)


def write_report(posterior: Any, out_dir: str | os.PathLike[str], *, source: str | None = None,
                 planning_draws: int | None = PLANNING_DRAWS, next_runs: NextRuns | None = None) -> ReportFiles:
    """Write the report of ``posterior`` into ``out_dir``: report.html (self-contained, figures embedded),
    report.md and its figures' PNGs beside it. ``source`` names the posterior file in the report's header;
    ``planning_draws`` bounds the draws that answer the planning queries and draw their figures (None: all);
    ``next_runs`` (candidates, target, budget) adds the section on which of the candidates to train next.

    A figure that fails to draw is shown as a note ("figure X failed: <error>") in its place and at the top of
    the report, listed in the result's ``failures``, and warned about (``ReportWarning``); the rest is written.
    """
    files = write_files(report_content(posterior, source, planning_draws, next_runs), out_dir)
    for note in files.failures:
        warnings.warn(note, ReportWarning, stacklevel=2)
    return files


def report_from_file(path: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                     planning_draws: int | None = PLANNING_DRAWS, next_runs: NextRuns | None = None) -> ReportFiles:
    """The report of the posterior file ``path`` (a ValueError naming it if it cannot be read)."""
    return write_report(load_report_posterior(path), out_dir, source=str(path), planning_draws=planning_draws,
                        next_runs=next_runs)
