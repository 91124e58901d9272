"""Run (or finish) the cpu grid and print its sanity summary (for the issue note).

    python scripts/run_cpu_grid.py [--spec experiments/cpu.toml] [--out runs/cpu] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import time

from bayes_distill.data import supervised_twin_loss
from bayes_distill.runner import run_sweep


def summarize(ds) -> str:
    """Teacher/supervised loss vs N and D, the entropy floor, distilled vs supervised students (nats/token)."""
    df = ds.to_dataframe()
    df["stream"] = [json.loads(c)["stream"] for c in df.config]
    df["supervised_twin_loss"] = supervised_twin_loss(ds).to_series()
    ok = df[df.status == "ok"]
    lines = [f"{len(ok)}/{len(df)} runs ok; failed: {sorted(set(df[df.status != 'ok'].failure_reason))}"]
    h = float(df.entropy_rate.iloc[0])
    lines.append(f"entropy rate {h:.4f} nats/token, window floor {float(df.loss_floor.iloc[0]):.4f}; "
                 f"min loss {ok.loss.min():.4f}; below floor: {int((ok.loss < ok.loss_floor).sum())}")
    tps = json.loads(df.config.iloc[0])["train"]["batch_size"] * json.loads(df.config.iloc[0])["data"][
        "context_length"]
    lines.append(f"fewest optimizer steps of any run: {int((df.D / tps).min())}; "
                 f"sum of run wall times {ok.wall_time_s.sum():.0f} s")
    lines.append("supervised runs (role, stream, layers, N, D, steps, loss):")
    sup = ok[ok.kind == "supervised"]
    for _, r in sup.sort_values(["N", "D"]).iterrows():
        lines.append(f"  {r.role:10s} {r.stream:7s} L={int(r.n_layers)} N={r.N:7.0f} D={r.D:9.0f} "
                     f"steps={r.D / tps:6.0f} loss={r.loss:.4f}")
    lines.append("students (layers, D_S, teacher layers/loss -> distilled loss | supervised twin):")
    stu = ok[ok.kind == "distilled"]
    for (_, d), g in stu.groupby(["N", "D"]):
        twin = g.supervised_twin_loss.iloc[0]
        tw = f"{twin:.4f}" if twin == twin else "  -   "  # NaN: no twin
        items = []
        for _, r in g.sort_values("teacher_loss").iterrows():
            t_layers = int(df.loc[r.teacher_run, "n_layers"]) if r.teacher_run in df.index else -1
            items.append(f"L{t_layers}/{r.teacher_loss:.3f}->{r.loss:.4f}")
        lines.append(f"  S L={int(g.n_layers.iloc[0])} D_S={d:9.0f}: " + "  ".join(items) + f" | sup {tw}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--spec", default="experiments/cpu.toml")
    p.add_argument("--out", default="runs/cpu")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args()
    t0 = time.perf_counter()
    ds = run_sweep(a.spec, a.out, workers=a.workers, progress=not a.no_progress)
    print(f"sweep wall time {time.perf_counter() - t0:.0f} s")
    print(summarize(ds))


if __name__ == "__main__":
    main()
