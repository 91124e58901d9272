"""The ``bayes-distill`` command line with the paper's coefficients, and its exit codes on bad input."""

from __future__ import annotations

import numpy as np
import pytest

import bayes_distill as bd
from bayes_distill.cli import main


def _rows(printed: str) -> list[list[str]]:
    """The data rows of a table printed by the CLI (below its dashed rule), split on whitespace."""
    lines = printed.strip().splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line.replace(" ", "")) == {"-"})
    return [line.split() for line in lines[rule + 1:]]


def _forward_flops(N: float) -> float:
    """Eq. 69 at the paper's architecture, as the reference states it: 2N (1 + 155.06 N^-1/3 + 72132 N^-2/3)."""
    return 2 * N * (1 + 155.06 * N ** (-1 / 3) + 72132 * N ** (-2 / 3))


def test_plan_with_the_paper_coefficients_spends_the_budget_on_an_overtrained_teacher(capsys):
    # The 975M model of Table 13 (forward FLOPs 2.400e9 per token) at 1e22 FLOPs, teacher inference.
    assert main(["plan", "--student", "9.755e8", "--compute", "1e22", "--scenario", "teacher-inference"]) == 0
    printed = capsys.readouterr().out
    assert "coefficients: paper (Table 6)" in printed
    [row] = _rows(printed)
    N_S, C, D_S, N_T, D_T, L_T, L_S, L_sup = (float(v) for v in row[:8])
    shares = [float(v.rstrip("%")) / 100 for v in row[8:]]
    assert (N_S, C, D_T) == (9.76e8, 1e22, 1e17)  # teacher tokens are free: the teacher sits at the upper bound
    # The budget holds: 3 F(N_S) D_S + F(N_T) D_S = C, to the 3 digits printed.
    assert D_S * (3 * 2.400e9 + _forward_flops(N_T)) == pytest.approx(1e22, rel=2e-3)
    assert shares[2] == 0.0 and sum(shares) == pytest.approx(1.0, abs=2e-3)
    assert shares[0] == pytest.approx(3 * 2.400e9 * D_S / 1e22, abs=2e-3)
    # Supervised baseline by hand: Eq. 1 with Table 6's coefficients at D = C / (3 F(N_S)) = 1.389e12 tokens.
    D = 1e22 / (3 * 2.400e9)
    by_hand = 1.220 + (3355 / 9.755e8**0.408 + 18186 / D**0.431) ** 0.452
    assert L_sup == pytest.approx(by_hand, abs=2e-4)
    assert L_T < L_S  # the student never beats its teacher


def test_crossover_verb_prints_the_budget_where_supervised_catches_up(capsys):
    assert main(["crossover", "--student", "1e9", "3e9", "--scenario", "teacher-inference"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert [r[0] for r in rows] == ["1e+09", "3e+09"]
    assert all(" ".join(r[2:]) == "crossover in range" for r in rows)
    budgets = np.array([float(r[1]) for r in rows])
    assert budgets[0] < budgets[1]  # the crossover grows with student size (the paper's conclusion)
    # At C* the compute-optimal distilled student and the supervised one of equal compute tie; a decade below,
    # distillation wins; a decade above, supervised training does.
    for N_S, C in zip((1e9, 3e9), budgets, strict=True):
        plan = bd.allocate(N_S, [C / 10, C, C * 10], "teacher-inference")
        gap = (plan["student_loss"] - plan["supervised_loss"]).values.ravel()
        assert gap[0] < 0 < gap[2] and abs(gap[1]) < 1e-3, (N_S, C, gap)


def test_crossover_verb_with_a_range_where_distillation_always_wins(capsys):
    assert main(["crossover", "--student", "3e9", "--range", "1e18", "1e20"]) == 0
    [row] = _rows(capsys.readouterr().out)
    assert row[1] == "inf" and " ".join(row[2:]) == "distillation wins throughout"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", "--student", "0", "--compute", "1e22"], "argument --student: must be finite and > 0; got '0'"),
        (["plan", "--student", "1e9", "--compute", "lots"], "argument --compute: not a number: 'lots'"),
        (["crossover", "--student", "1e9", "--range", "1e18", "nan"], "argument --range: must be finite and > 0"),
    ],
)
def test_bad_numbers_exit_2_naming_the_argument(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_fit_exits_2_on_a_bad_runs_table_naming_the_column(tmp_path, capsys):
    (tmp_path / "runs.csv").write_text("run,kind,N,D,loss\nr0,supervised,1e8,2e9,3.1\nr1,supervised,-5,2e9,3.0\n")
    assert main(["fit", str(tmp_path / "runs.csv"), "--out", str(tmp_path / "p.nc")]) == 2
    err = capsys.readouterr().err
    assert "bayes-distill fit: error:" in err and "column 'N' must be finite and > 0" in err and "r1" in err
    assert not (tmp_path / "p.nc").exists()


def test_fit_exits_2_on_a_missing_file(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nothing.csv"), "--out", str(tmp_path / "p.nc")]) == 2
    assert "nothing.csv" in capsys.readouterr().err


def test_fit_with_law_error_exits_2_on_runs_that_share_no_size(tmp_path, capsys):
    # --law-error reaches the fit, which refuses a table where no two runs share a size (nothing to learn it from).
    rows = "\n".join(f"r{i},supervised,{1e8 * (i + 1)},{2e9 * (i + 1)},{3.1 - 0.05 * i}" for i in range(6))
    (tmp_path / "runs.csv").write_text(f"run,kind,N,D,loss\n{rows}\n")
    assert main(["fit", str(tmp_path / "runs.csv"), "--out", str(tmp_path / "p.nc"), "--law-error"]) == 2
    assert "law_error=True needs runs that share a student size" in capsys.readouterr().err
    assert not (tmp_path / "p.nc").exists()
