"""Sanity of a sweep's runs table (the cpu grid's, by default): the checks the smoke test makes, at cpu scale.

1. Teacher loss falls with D at fixed N, and with N at comparable D (within a factor 1.3).
2. No loss falls below the source's exact floor (its entropy rate, raised by the short context at a window's start).
3. At the smallest D_S, a student distilled from the strongest teacher beats its supervised twin (same N_S, D_S).
Prints each comparison and exits non-zero if one fails. Usage: python experiments/cpu_sanity.py [runs/cpu/runs.nc]
"""

from __future__ import annotations

import sys

import numpy as np
import xarray as xr

from bayes_distill.data import supervised_twin_loss


def main(path: str = "runs/cpu/runs.nc") -> int:
    table = xr.open_dataset(path)
    runs = table.to_dataframe()
    runs["supervised_twin_loss"] = supervised_twin_loss(table).to_series()
    runs = runs[runs["status"] == "ok"]
    failures = []

    def check(ok: bool, text: str) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {text}")
        if not ok:
            failures.append(text)

    teachers = runs[runs["role"] == "teacher"].sort_values(["N", "D"])
    for n, same_size in teachers.groupby("N"):
        losses = same_size["loss"].values
        if len(losses) > 1:
            check(bool(np.all(np.diff(losses) < 0)), f"teacher N={n:.3g}: loss {np.round(losses, 3)} falls with "
                                                     f"D {same_size['D'].values.astype(int)}")
    pairs = [(a, b) for _, a in teachers.iterrows() for _, b in teachers.iterrows()
             if a["N"] < b["N"] and 1 / 1.3 < b["D"] / a["D"] < 1.3]
    for a, b in pairs:
        check(b["loss"] < a["loss"], f"teachers at D~{a['D']:.3g}: N={a['N']:.3g} {a['loss']:.3f} > "
                                     f"N={b['N']:.3g} {b['loss']:.3f}")

    floor = float(runs["loss_floor"].min())
    check(bool((runs["loss"] > runs["loss_floor"]).all()),
          f"every loss is above the source's floor {floor:.4f} (entropy rate {float(runs['entropy_rate'].min()):.4f});"
          f" lowest measured {float(runs['loss'].min()):.4f}")

    distilled = runs[runs["kind"] == "distilled"]
    for n_s, students in distilled.groupby("N"):
        d_s = students["D"].min()
        best = students[students["D"] == d_s].sort_values("teacher_loss").iloc[0]
        twin = best["supervised_twin_loss"]
        check(bool(best["loss"] < twin),  # no twin (NaN) fails: the check must not pass by being skipped
              f"student N={n_s:.3g} at D_S={d_s:.3g}: distilled from L_T={best['teacher_loss']:.3f} "
              f"{best['loss']:.3f} < supervised twin {twin:.3f}")
    print(f"\n{len(failures)} of the checks failed" if failures else "\nall checks pass")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
