"""Real-data check on Gadre et al. (2024): fit the supervised law on small rpj models, predict 1.44B and 6.89B.

Fit: rows with dataset == "rpj" and params <= 411.6M (all M); N = params_no_embed, D = tokens, loss = C4 val loss.
Predict the C4 loss of the rpj 1.44B and 6.89B models: 90% posterior-predictive intervals (with the fitted noise),
medians and relative errors of the median. Usage: python experiments/gadre_check.py [--draws 1000] [--backend pymc]
"""

from __future__ import annotations

import argparse
import warnings

import pandas as pd

from bayes_distill import fit

CSV = "/work/shared/data/gadre2024/gadre2024_104_models_val_losses.csv"
C4 = "loss__c4_val__shard-{0000000..0000010}.tar"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--backend", default="numpyro")
    args = ap.parse_args()
    frame = pd.read_csv(CSV)
    rpj = frame[frame["dataset"] == "rpj"]
    train = rpj[rpj["params"] <= 411.7e6]
    test = rpj[rpj["params"] > 411.7e6]
    runs = pd.DataFrame({"run": train["name"], "kind": "supervised", "N": train["params_no_embed"],
                         "D": train["tokens"], "loss": train[C4]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = fit(runs, backend=args.backend, chains=args.chains, draws=args.draws, warmup=args.draws, seed=0)
    print(f"fit on {len(runs)} rpj runs (N <= 411.6M); {args.backend}")
    print(post.summary())
    test = test.sort_values("params")
    predicted = post.predict(N=test["params_no_embed"].values, D=test["tokens"].values, noise=True, seed=0)
    lo, med, hi = predicted.quantile([0.05, 0.5, 0.95], dim=("chain", "draw")).values
    print(f"{'model':>24} {'N':>9} {'M':>5} {'true':>7} {'median':>7} {'90% PI':>17} {'rel.err':>8} covered")
    for i, (_, row) in enumerate(test.iterrows()):
        true = float(row[C4])
        print(f"{row['name'][-24:]:>24} {row['params_no_embed'] / 1e9:8.2f}B {row['chinchilla_multiplier'] * 20:5.0f} "
              f"{true:7.4f} {med[i]:7.4f} [{lo[i]:7.4f}, {hi[i]:7.4f}] {(med[i] - true) / true:+8.2%} "
              f"{lo[i] <= true <= hi[i]}")


if __name__ == "__main__":
    main()
