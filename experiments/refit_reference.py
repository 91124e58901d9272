"""Refits on simulated outcomes, saved once, so that designs can be scored against them in seconds (issue 15; not CI).

Two setups, each a few tables (seeds) with a 1% law error in the truth:
- ``table``: ``design_check.py``'s (the supervised law at 4 sizes, 3e7-3e8 parameters; the target: 1e10 and 3e10
  parameters; 15 candidates at 5 sizes, 5e7-3e9), one outcome from the truth per candidate;
- ``verdict``: ``verdict_check.py``'s (both laws; the target: the verdict nearest a coin toss; 9 candidates, all at
  sizes the fit has not seen), ``--outcomes`` outcomes per candidate.
For each table it writes ``{setup}{seed}.nc`` (the fit before, ``Posterior.save``) and ``{setup}{seed}.json`` (the
target, the candidates, the target's variance before and each candidate's realised reduction: the variance before
less the mean over its refits). ``design_score.py`` reads them.
Usage: python experiments/refit_reference.py --out DIR [--setups table verdict] [--tables 3] [--draws 500]
[--outcomes 2]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import design_check
import numpy as np
import pandas as pd
import verdict_check
from design_check import TARGET, quiet_fit, target_variance

LAW_ERROR = 0.01


def table_setup(seed: int, draws: int, outcomes: int) -> dict:
    runs, post, candidates = design_check.table(seed, draws, LAW_ERROR)
    before = target_variance(post)
    realised = [before - target_variance(quiet_fit(pd.concat([runs, candidates.iloc[[i]]]), draws))
                for i in range(len(candidates))]
    return {"post": post, "target": TARGET.to_dict("list"), "candidates": candidates.drop(columns="loss"),
            "before": before, "realised": realised}


def verdict_setup(seed: int, draws: int, outcomes: int) -> dict:
    runs, offsets = verdict_check.runs_table(seed, LAW_ERROR)
    post = quiet_fit(runs, draws)
    question, candidates = verdict_check.least_sure(post), verdict_check.candidates_table()
    before = verdict_check.verdict_variance(post, question)
    rng = np.random.default_rng([seed, 2])
    realised = [before - np.mean([verdict_check.verdict_variance(quiet_fit(pd.concat(
        [runs, verdict_check.with_outcomes(candidates.iloc[[i]], rng, offsets)]), draws), question)
        for _ in range(outcomes)]) for i in range(len(candidates))]
    return {"post": post, "target": list(question), "candidates": candidates, "before": before, "realised": realised}


SETUPS = {"table": table_setup, "verdict": verdict_setup}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--setups", nargs="+", choices=list(SETUPS), default=list(SETUPS))
    ap.add_argument("--tables", type=int, default=3)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--outcomes", type=int, default=2, help="refits per candidate (verdict setup)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for setup in args.setups:
        for seed in range(args.tables):
            r = SETUPS[setup](seed, args.draws, args.outcomes)
            r["post"].save(args.out / f"{setup}{seed}.nc")
            record = {"target": r["target"], "candidates": r["candidates"].to_dict("list"), "before": r["before"],
                      "realised": [float(x) for x in r["realised"]]}
            (args.out / f"{setup}{seed}.json").write_text(json.dumps(record))
            print(f"{setup} {seed}: variance {r['before']:.3g}, realised % "
                  f"{np.round(100 * np.array(r['realised']) / r['before'], 1).tolist()}", flush=True)


if __name__ == "__main__":
    main()
