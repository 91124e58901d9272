"""Real-data check on Gadre et al. (2024): fit the supervised law on small rpj models, predict 1.44B and 6.89B.

Fit: rows with dataset == "rpj" and params <= 411.6M (all M, the issue's selection); N = params_no_embed,
D = tokens, loss = C4 val loss. Predict the C4 loss of the rpj 1.44B and 6.89B models: 90% posterior-predictive
intervals (with the fitted noise), medians and relative errors of the median.

--reference also fits the same runs the paper's way (``paper_fit``: Huber loss, L-BFGS-B over the full grid of
starts, point estimate) and prints its predictions, so that a miss can be told apart: one both make is the law's
on these runs, not the sampler's. --min-multiplier M keeps only runs with chinchilla_multiplier >= M (0.5 drops
the M = 5 runs, whose LR warm-up covers 25-106% of their tokens): a sensitivity check, not the issue's test.

Usage: python experiments/gadre_check.py [--data CSV] [--draws 1000] [--backend pymc] [--reference]
       [--min-multiplier 0.5]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_distill import fit
from bayes_distill.inference.paper_fit import paper_fit, paper_params
from bayes_distill.laws.equations import log_supervised_loss

# The shared data sit beside the repository: ../shared/data from its root.
CSV = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gadre2024"
       / "gadre2024_104_models_val_losses.csv")
C4 = "loss__c4_val__shard-{0000000..0000010}.tar"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=CSV, help="the Gadre et al. table (default: ../shared/data/gadre2024/"
                    "gadre2024_104_models_val_losses.csv beside the repository)")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--backend", default="numpyro")
    ap.add_argument("--reference", action="store_true", help="also fit the paper's way (paper_fit)")
    ap.add_argument("--min-multiplier", type=float, default=0.0, help="drop runs with a smaller chinchilla_multiplier")
    args = ap.parse_args()
    if not args.data.exists():
        raise SystemExit(f"--data: {str(args.data)!r} does not exist; pass the Gadre et al. CSV")
    frame = pd.read_csv(args.data)
    rpj = frame[frame["dataset"] == "rpj"]
    train = rpj[(rpj["params"] <= 411.7e6) & (rpj["chinchilla_multiplier"] >= args.min_multiplier)]
    test = rpj[rpj["params"] > 411.7e6].sort_values("params")
    runs = pd.DataFrame({"run": train["name"], "kind": "supervised", "N": train["params_no_embed"],
                         "D": train["tokens"], "loss": train[C4]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = fit(runs, backend=args.backend, chains=args.chains, draws=args.draws, warmup=args.draws, seed=0)
    print(f"fit on {len(runs)} rpj runs (N <= 411.6M, multiplier >= {args.min_multiplier:g}); {args.backend}")
    print(post.summary())
    predicted = post.predict(N=test["params_no_embed"].values, D=test["tokens"].values, noise=True, seed=0)
    lo, med, hi = predicted.quantile([0.05, 0.5, 0.95], dim=("chain", "draw")).values
    reference = None
    if args.reference:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimate = paper_params(paper_fit(runs, starts="paper", bootstrap=0))
        reference = np.exp(np.asarray(log_supervised_loss(
            test["params_no_embed"].values.astype(float), test["tokens"].values.astype(float), estimate)))
    print(f"{'model':>24} {'N':>9} {'M':>5} {'true':>7} {'median':>7} {'90% PI':>17} {'rel.err':>8} covered"
          + ("  paper_fit rel.err" if reference is not None else ""))
    for i, (_, row) in enumerate(test.iterrows()):
        true = float(row[C4])
        size, multiplier = row["params_no_embed"] / 1e9, row["chinchilla_multiplier"] * 20
        line = (f"{row['name'][-24:]:>24} {size:8.2f}B {multiplier:5.0f} "
                f"{true:7.4f} {med[i]:7.4f} [{lo[i]:7.4f}, {hi[i]:7.4f}] {(med[i] - true) / true:+8.2%} "
                f"{str(lo[i] <= true <= hi[i]):>7}")
        if reference is not None:
            line += f"  {reference[i]:7.4f} {(reference[i] - true) / true:+8.2%}"
        print(line)


if __name__ == "__main__":
    main()
