"""The report (bayes-distill report posterior.nc --out DIR): its sections, its figures embedded in the HTML and
beside the Markdown, its exit codes, and its failures shown rather than dropped."""

from __future__ import annotations

import argparse
import base64
import datetime
import html
import re
import sys
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from bayes_distill.atomic import TEMPORARY_GLOB
from bayes_distill.cli.report import add_report_arguments, report_command
from bayes_distill.inference import sampler_record
from bayes_distill.laws import SCENARIOS
from bayes_distill.report import Figure, Section, Table, load_report_posterior
from bayes_distill.report import figures as report_figures
from bayes_distill.report.answers import PlanningAnswers
from bayes_distill.report.render import md_escape, to_html, to_markdown
from bayes_distill.report.sections import build_report, draws_text, planning_sections, scale_text

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_URI = '<img src="data:image/png;base64,'


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture(scope="module")
def report(smoke_posterior, tmp_path_factory):
    """The smoke posterior saved to a file and reported through the command: (posterior, path, out, code, seconds,
    stdout, stderr)."""
    folder = tmp_path_factory.mktemp("report")
    path = smoke_posterior.save(folder / "posterior.nc")
    out = folder / "out"
    start = time.perf_counter()
    code = report_command(_args(str(path), "--out", str(out)))
    seconds = time.perf_counter() - start
    return {"posterior": smoke_posterior, "path": path, "out": out, "code": code, "seconds": seconds,
            "html": (out / "report.html").read_text(), "markdown": (out / "report.md").read_text()}


def test_every_figure_has_its_section():
    # A figure without a section of its own would land under "Other figures", after the section on what to train
    # next, which must stay last.
    assert set(report_figures.FIGURE_SECTION) == {spec.name for spec in report_figures.FIGURES}


def test_report_command_returns_0_and_writes_both_files(report):
    out = report["out"]
    print(f"report of the smoke posterior: {report['seconds']:.1f} s")
    assert report["code"] == 0
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    assert not list(out.glob(TEMPORARY_GLOB)), "a temporary file of the atomic writes was left behind"
    assert report["html"].startswith("<!DOCTYPE html>") and "<script" not in report["html"]
    assert not re.search(r"""(src|href)=["'](?!data:)""", report["html"]), "the HTML must not load external assets"


def test_header_names_file_runs_architecture_source_and_date(report):
    posterior = report["posterior"]
    kinds, counts = np.unique(posterior.runs["kind"].values.astype(str), return_counts=True)
    for text in (html.unescape(report["html"]), report["markdown"]):
        assert str(report["path"]) in text
        assert f"{posterior.runs.sizes['run']} runs: " in text
        for kind, count in zip(kinds, counts, strict=True):
            assert f"{count} {kind}" in text
        assert f"context_length={posterior.architecture.context_length}" in text
        assert posterior.scale.source.split(";")[0] in text
        assert datetime.date.today().isoformat() in text


def test_coefficient_table_has_every_free_coefficient_and_diagnostics(report):
    posterior = report["posterior"]
    for text in (report["html"], report["markdown"]):
        assert "Coefficients and diagnostics" in text and "R-hat" in text and "ESS bulk" in text
        assert "Divergences: " in text
    record = sampler_record(posterior.tree)  # what the fit's rules did is said, not left in the attributes
    assert record  # the smoke fit's short chains need the rules
    for step in record:
        assert f"The fit {step}." in report["markdown"]
    rows = re.findall(r"<tr><td>([^<]+)</td>", report["html"])
    # Each free coefficient, a scale sampled on its log as that log (log_A).
    expected = [f"log_{c}" if f"log_{c}" in posterior.posterior else c for c in posterior.free_coefficients]
    assert "log_A" in expected and set(expected) <= set(rows)
    for name in expected:
        assert re.search(rf"^\| {re.escape(md_escape(name))} \|", report["markdown"], re.M), name


def test_plans_crossover_and_win_probability_in_every_scenario(report):
    markdown = report["markdown"]
    for text in (report["html"], markdown):
        assert "Compute-optimal plans" in text and "Posterior predictive check" in text
        for scenario in SCENARIOS:
            assert f"Scenario {scenario} (" in text
        assert "Crossover" in text and "wins throughout" in text and "never wins" in text
        assert "P(distillation wins) over student size and budget" in text
    crossover_rows = re.findall(r"^\| ([a-z-]+) \| [0-9.e+]+ \| (\d+)% \| (\d+)% \|", markdown, re.M)
    assert {r[0] for r in crossover_rows} >= set(SCENARIOS)
    win_rows = re.findall(r"^\| ([a-z-]+) \| [0-9.e+]+ \|((?: [01]\.\d\d \|)+)$", markdown, re.M)
    assert {r[0] for r in win_rows} == set(SCENARIOS)
    assert all(len(r[1].split("|")) - 1 == 5 for r in win_rows)  # five budgets


def test_html_embeds_every_figure_as_a_png(report):
    page = report["html"]
    assert page.count(DATA_URI) == len(report_figures.FIGURES)
    for data in re.findall(r'data:image/png;base64,([A-Za-z0-9+/=]+)"', page):
        assert base64.b64decode(data).startswith(PNG_MAGIC)
    assert "failed:" not in page


def test_markdown_references_png_files_beside_it(report):
    names = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report["markdown"])
    assert len(names) == len(report_figures.FIGURES) == report["html"].count(DATA_URI)
    for name in names:
        png = report["out"] / name
        assert png.is_file() and png.read_bytes()[:8] == PNG_MAGIC


def test_bad_posterior_path_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nowhere.nc"
    with pytest.raises(ValueError, match=re.escape(str(missing))):
        load_report_posterior(missing)
    garbage = tmp_path / "garbage.nc"
    garbage.write_text("not a netCDF file")
    with pytest.raises(ValueError, match=re.escape(str(garbage))):
        load_report_posterior(garbage)
    out = tmp_path / "out"
    assert report_command(_args(str(missing), "--out", str(out))) == 2
    err = capsys.readouterr().err
    assert "bayes-distill report: error:" in err and str(missing) in err
    assert not (out / "report.html").exists()


def test_failed_figure_is_shown_in_place_and_exits_1(report, monkeypatch, tmp_path, capsys):
    """A figure that raises becomes a visible note in both files (escaped in the HTML), the others are written,
    and the command exits 1 naming it."""
    import bayes_distill.plots as plots

    def broken(posterior, **kwargs):
        raise RuntimeError("no <axes> & no luck")

    monkeypatch.setattr(plots, "capacity_gap", broken)
    specs = tuple(s for s in report_figures.FIGURES if s.name in ("capacity_gap", "posterior_predictive"))
    monkeypatch.setattr(report_figures, "FIGURES", specs)
    out = tmp_path / "out"
    code = report_command(_args(str(report["path"]), "--out", str(out), "--planning-draws", "0"))  # JIT cache hits
    assert code == 1
    assert "figure capacity_gap failed: RuntimeError: no <axes> & no luck" in capsys.readouterr().err
    page, markdown = (out / "report.html").read_text(), (out / "report.md").read_text()
    assert "figure capacity_gap failed: RuntimeError: no &lt;axes&gt; &amp; no luck" in page
    assert "figure capacity_gap failed: RuntimeError: no \\<axes\\> & no luck" in markdown
    assert page.count(DATA_URI) == 1 and (out / "posterior_predictive.png").is_file()
    assert not (out / "capacity_gap.png").exists()
    assert "Answers from all 400 posterior draws" in markdown


def test_one_content_rendered_twice():
    """Markdown and HTML say the same: every paragraph, note, cell and figure of the content is in both."""
    png = PNG_MAGIC + b"fake"
    figures = (Figure("drawn", "A figure", "Its caption.", png=png), Figure("broken", "B", "c", error="E: x|y"))
    section = Section("Title *1*", ("Text with | pipe and <tag>.",), (Table(("a", "b"), (("1 [0, 2]", "x"),), "Cap"),),
                      figures, ("a warning",))
    from bayes_distill.report.content import Report

    content = Report("R", Table(("", ""), (("Date", "today"),)), (section,))
    markdown, page = to_markdown(content), to_html(content)
    assert "## Title \\*1\\*" in markdown and "Text with \\| pipe and \\<tag\\>." in markdown
    assert "| 1 [0, 2] | x |" in markdown and "![A figure](drawn.png)" in markdown
    assert "figure broken failed: E: x\\|y" in markdown and "> **Warning:** a warning" in markdown
    assert "Text with | pipe and &lt;tag&gt;." in page and "figure broken failed: E: x|y" in page
    assert '<td>1<span class="interval">[0, 2]</span></td>' in page and page.count(DATA_URI) == 1
    assert base64.b64encode(png).decode() in page


def test_thinning_and_a_supervised_only_fit(smoke_posterior):
    few = smoke_posterior.thinned(100)
    assert few.draw_count == 100 and few.posterior.sizes["chain"] == smoke_posterior.posterior.sizes["chain"]
    assert few.tree["sample_stats"].sizes["draw"] == few.posterior.sizes["draw"]
    assert smoke_posterior.thinned(None) is smoke_posterior and smoke_posterior.draw_count == 400
    answers = PlanningAnswers((1e4,), (1e9,), (1e8, 1e10), {}, {}, {}, draws_used=100, draws_total=400)
    assert "Answers from 100 of the 400 posterior draws" in draws_text(answers)
    (alone,) = planning_sections(None)  # one section says why, not three the same
    assert alone.title == "Planning distillation" and "supervised runs only" in alone.paragraphs[0]


def test_figures_without_a_section_still_appear():
    """A figure whose section is unknown is shown in an extra section rather than dropped."""
    from bayes_distill.report.sections import place_figures

    placed = place_figures([Section("Crossover")], {"new_plot": Figure("new_plot", "t", "c", png=PNG_MAGIC)})
    assert [s.title for s in placed] == ["Crossover", "Other figures"] and placed[1].figures[0].name == "new_plot"


def test_build_report_lists_failed_figures_first(report):
    failed = {"capacity_gap": Figure("capacity_gap", "t", "c", error="ValueError: bad")}
    content = build_report(report["posterior"], None, [], None, None, failed)
    assert content.sections[0].title == "Figures that failed"
    assert content.sections[0].notes == ("figure capacity_gap failed: ValueError: bad",)
    assert "not given (a Posterior in memory)" in to_markdown(content)


def test_supervised_only_fit_leaves_out_the_distillation_figures(smoke_posterior, monkeypatch):
    """A fit without the distillation law draws only the figures that need none (its sections say why)."""
    from bayes_distill.posterior import Posterior

    monkeypatch.setattr(Posterior, "fits_distillation", property(lambda self: False))
    specs = [s for s in report_figures.FIGURES if s.name in ("capacity_gap", "posterior_predictive")]
    drawn = report_figures.draw_figures(smoke_posterior, specs)
    assert list(drawn) == ["posterior_predictive"] and not drawn["posterior_predictive"].failed


def test_planning_draws_must_be_a_count():
    with pytest.raises(SystemExit):
        _args("p.nc", "--out", "o", "--planning-draws", "-1")
    assert _args("p.nc", "--out", "o", "--planning-draws", "0").planning_draws == 0


def test_what_to_train_next_is_the_reports_last_section(report, tmp_path, capsys):
    # Given candidate runs, a target and a budget, the report ends with the batch suggest_runs picks: the same
    # runs, cost and expected cut as asked of the posterior directly, in both renderings.
    from bayes_distill.data.candidates import load_candidates
    from bayes_distill.posterior.design import candidate_cost, expected_cut

    post = report["posterior"]
    runs = post.runs.to_dataframe().reset_index()
    candidates = runs[["kind", "N", "D", "teacher_loss", "teacher_N"]].assign(D=runs["D"] * 3,
                                                                                run=[f"c{i}" for i in runs.index])
    candidates.to_csv(tmp_path / "candidates.csv", index=False)
    target = runs[runs["kind"] == "supervised"].nlargest(1, "N")[["kind", "N", "D"]].assign(D=lambda t: t["D"] * 10)
    target.to_csv(tmp_path / "target.csv", index=False)
    budget = float(0.2 * candidate_cost(load_candidates(candidates), post.architecture).sum())
    out = tmp_path / "out"
    code = report_command(_args(str(report["path"]), "--out", str(out), "--planning-draws", "50", "--candidates",
                                str(tmp_path / "candidates.csv"), "--target", str(tmp_path / "target.csv"),
                                "--budget", f"{budget!r}"))
    assert code == 0, capsys.readouterr().err
    ranked = post.suggest_runs(candidates, str(tmp_path / "target.csv"), budget)
    chosen = ranked["candidate"].values[ranked["selected"].values]
    assert 0 < chosen.size < len(candidates)
    markdown, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    section = markdown.split("## What to train next")[1]
    assert "## " not in section  # the last section
    assert (f"Selected {chosen.size} of {len(candidates)} candidates, {ranked.attrs['batch_cost']:.3g} FLOPs"
            in section)
    assert f"mean posterior variance by {100 * expected_cut(ranked):.2g}%" in section
    batch = section.split("The batch, best score first.")[1].split("best-scored of")[0]
    assert re.findall(r"^\| (c\d+) \|", batch, flags=re.MULTILINE) == chosen.tolist()
    assert "| variance cut alone | cut in the batch |" in batch  # each pick's share given the picks before it
    assert "What to train next" in page and all(f"<td>{run}</td>" in page for run in chosen)
    # The candidates drawn, worth against cost: a figure of the section, written beside the report and embedded.
    assert "![The candidates' worth and cost](next_runs.png)" in section
    assert (out / "next_runs.png").stat().st_size > 10_000 and "figure next_runs failed" not in markdown


def test_the_reports_next_runs_refuse_or_skip_the_runs_already_fitted(report, tmp_path, capsys):
    # Candidates that hold the posterior's own runs: refused (exit 2, naming them and the way out), or with
    # --skip-fitted left out, the section saying how many.
    post = report["posterior"]
    runs = post.runs.to_dataframe().reset_index()
    new = runs[runs["kind"] == "supervised"].head(2)[["kind", "N", "D"]].assign(D=lambda t: t["D"] * 3,
                                                                                run=["new-0", "new-1"])
    candidates = pd.concat([runs[["run", "kind", "N", "D"]][runs["kind"] == "supervised"].head(3), new])
    candidates.to_csv(tmp_path / "candidates.csv", index=False)
    runs.nlargest(1, "N")[["kind", "N", "D"]].assign(kind="supervised").to_csv(tmp_path / "target.csv", index=False)
    argv = [str(report["path"]), "--out", str(tmp_path / "out"), "--planning-draws", "50", "--candidates",
            str(tmp_path / "candidates.csv"), "--target", str(tmp_path / "target.csv"), "--budget", "1e30"]
    assert report_command(_args(*argv)) == 2
    assert "3 candidate(s) are runs the posterior was fitted on" in capsys.readouterr().err
    assert report_command(_args(*argv, "--skip-fitted")) == 0, capsys.readouterr().err
    section = (tmp_path / "out" / "report.md").read_text().split("## What to train next")[1]
    assert "3 of the candidates given were left out: the posterior was fitted on them." in section
    assert "new-0" in section and not any(run in section for run in candidates["run"].head(3))


def test_what_to_train_next_needs_candidates_target_and_budget(report, tmp_path, capsys):
    code = report_command(_args(str(report["path"]), "--out", str(tmp_path / "out"), "--candidates", "c.csv"))
    assert code == 2 and not (tmp_path / "out").exists()
    assert ("needs --candidates, --target and --budget; --target and --budget missing"
            in capsys.readouterr().err)


def test_a_share_of_the_targets_variance_reads_as_a_percentage():
    from bayes_distill.report.next_runs import share_text

    assert [share_text(r, 2.0) for r in (1.0, 0.0123, 2e-7, 0.0)] == ["50%", "0.61%", "<0.01%", "0%"]
    assert share_text(0.5, 0.0) == "-"  # a target without spread


def test_the_reports_next_runs_weigh_a_plan_beside_the_batch(report, tmp_path, capsys):
    # --compare: the section weighs a plan of one's own beside the batch, at the plan's cost when no budget is
    # given, with the words suggest prints and the plan's runs in its order; a plan that does not exist exits 2
    # before anything is written.
    from bayes_distill.posterior.design import expected_cut

    post = report["posterior"]
    runs = post.runs.to_dataframe().reset_index()
    supervised = runs[runs["kind"] == "supervised"]
    candidates = supervised[["kind", "N", "D"]].assign(D=supervised["D"] * 3,
                                                       run=[f"c{i}" for i in range(len(supervised))])
    candidates.to_csv(tmp_path / "candidates.csv", index=False)
    plan = candidates.iloc[[-1, 0]]  # in that order
    plan.to_csv(tmp_path / "plan.csv", index=False)
    target = supervised.nlargest(1, "N")[["kind", "N", "D"]].assign(D=lambda t: t["D"] * 10)
    target.to_csv(tmp_path / "target.csv", index=False)
    argv = [str(report["path"]), "--out", str(tmp_path / "out"), "--planning-draws", "50", "--candidates",
            str(tmp_path / "candidates.csv"), "--target", str(tmp_path / "target.csv")]
    assert report_command(_args(*argv, "--compare", str(tmp_path / "absent.csv"))) == 2
    assert "--compare" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert report_command(_args(*argv, "--compare", str(tmp_path / "plan.csv"))) == 0, capsys.readouterr().err
    assessed = post.assess_batch(plan, str(tmp_path / "target.csv"))
    section = (tmp_path / "out" / "report.md").read_text().split("## What to train next")[1]
    cost = assessed.attrs["batch_cost"]
    assert (f"Your plan (plan.csv): 2 runs, {cost:.3g} FLOPs, expected to shrink the target's mean posterior "
            f"variance by {100 * expected_cut(assessed):.2g}%.") in section
    ranked = post.suggest_runs(candidates, str(tmp_path / "target.csv"), cost * (1 + 1e-9))  # at the plan's cost
    spent = ranked.attrs["batch_cost"]
    assert f"Selected {int(ranked['selected'].sum())} of {len(candidates)} candidates, {spent:.3g} FLOPs" in section
    assert f"The suggested batch: {int(ranked['selected'].sum())} runs, {spent:.3g} FLOPs" in section
    mine = section.split("plan.csv, in its order")[1]
    assert re.findall(r"^\| (c\d+) \|", mine, flags=re.MULTILINE) == plan["run"].tolist()


def test_a_two_stage_fit_says_its_comparisons_leave_out_the_supervised_law(joint_posterior, tmp_path, capsys,
                                                                          monkeypatch):
    """Holding the six supervised coefficients fixed (the paper's two-stage fit) marks every planning answer, and the
    command line and the report say what it leaves out; a joint fit, or one coefficient held, says nothing."""
    from bayes_distill.cli import main
    from bayes_distill.laws import SUPERVISED_COEFFICIENTS
    from bayes_distill.posterior import SUPERVISED_LAW_FIXED_CAUTION, Posterior
    from bayes_distill.report.answers import planning_answers

    medians = {c: float(joint_posterior.posterior[c].median()) for c in SUPERVISED_COEFFICIENTS}
    two_stage = Posterior(joint_posterior.tree, joint_posterior.runs, medians, joint_posterior.nu)
    one_held = Posterior(joint_posterior.tree, joint_posterior.runs, {"E": medians["E"]}, joint_posterior.nu)
    assert two_stage.supervised_law_fixed and not one_held.supervised_law_fixed
    assert not joint_posterior.supervised_law_fixed
    answers = [two_stage.crossover(1e9), two_stage.allocate(1e9, 1e20), two_stage.prob_distillation_wins(1e9, 1e20)]
    assert [a.attrs.get("supervised_law_fixed") for a in answers] == [1, 1, 1]
    assert "supervised_law_fixed" not in joint_posterior.crossover(1e9).attrs
    assert "supervised_law_fixed" not in one_held.crossover(1e9).attrs

    for post, says in ((two_stage, True), (joint_posterior, False)):
        path = post.save(tmp_path / f"{says}.nc")
        assert main(["crossover", "--posterior", str(path), "--student", "1e9"]) == 0
        assert (f"caution: {SUPERVISED_LAW_FIXED_CAUTION}" in capsys.readouterr().out) is says

    from bayes_distill.cli.fitting import TWO_STAGE_FIT_CAUTION

    for post, says in ((two_stage, True), (one_held, False)):  # fit says it before any question is asked
        monkeypatch.setattr(sys.modules["bayes_distill.cli.main"], "fit_and_diagnose",
                            lambda runs, post=post, **kw: (post, []))
        fix = [f"{c}={v}" for c, v in post.fix.items()]
        assert main(["fit", "runs.csv", "--out", str(tmp_path / f"fit_{says}.nc"), "--fix", *fix]) == 0
        assert (f"caution: {TWO_STAGE_FIT_CAUTION}" in capsys.readouterr().out) is says

    sections = planning_sections(planning_answers(two_stage.thinned(20), budget_count=2))
    assert [s.title for s in sections] == ["Compute-optimal plans", "Crossover", "P(distillation wins)"]
    assert all(s.notes[-1].startswith("The supervised law's six coefficients were held fixed") for s in sections)
    assert all(not s.notes for s in planning_sections(planning_answers(joint_posterior.thinned(20), budget_count=2)))


def test_a_sweep_of_many_student_sizes_is_planned_at_a_few_that_span_it():
    from bayes_distill.report.answers import STUDENT_SIZE_COUNT, spread_sizes

    sizes = np.geomspace(1e8, 3e9, 80)
    spread = spread_sizes(np.random.default_rng(0).permutation(sizes))
    assert spread.size == STUDENT_SIZE_COUNT == 8 and np.all(np.diff(spread) > 0)
    assert spread[0] == sizes[0] and spread[-1] == sizes[-1] and np.isin(spread, sizes).all()
    np.testing.assert_allclose(np.diff(np.log(spread)), np.log(30) / 7, rtol=0.1)  # even in log, to a size's step
    np.testing.assert_array_equal(spread_sizes([3e8, 1e8, 1e8, 2e8]), [1e8, 2e8, 3e8])  # few: all, once each
    answers = PlanningAnswers(tuple(spread), (1e9,), (1e8, 1e10), {}, {}, {}, draws_used=100, draws_total=100,
                              sizes_total=80)
    assert "(8 of the distilled runs' 80 sizes, spread evenly in log" in scale_text(answers)
    assert "(those of the distilled runs)" in scale_text(replace(answers, sizes_total=8))
