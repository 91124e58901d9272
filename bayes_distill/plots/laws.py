"""The fitted laws against the runs: loss against tokens, IsoFLOP profiles and the capacity gap.

Each curve is the posterior median of the predicted loss with its 50% and 90% bands; the observed runs are drawn
on the curve whose inputs they share.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bayes_distill.laws import forward_flops
from bayes_distill.plots._common import (
    LOSS_LABEL,
    band_key,
    chosen,
    colors,
    draw_bands,
    draw_observed,
    log_grid,
    matches,
    new_figure,
    quantile,
    runs_of_kind,
    sci,
    tidy_log_axes,
)
from bayes_distill.posterior import summarize_draws

ISOFLOP_BUDGETS = 4
"""Budgets spread over the runs' own training compute when the runs hold no IsoFLOP profile."""
NEAR_BUDGET = 1.2
"""A run lies on a budget's IsoFLOP profile when its compute 3 F(N) D is within this factor of the budget."""
TEACHER_LOSS_MARGIN = 1.15
"""The capacity-gap curves reach this factor beyond the runs' smallest and largest losses."""
MAX_CURVES = 6
"""Curves a panel draws by default; a paper-sized design holds hundreds of (N_S, L_T) pairs, unreadable at once."""


def most_run(keys: Sequence[tuple[float, ...]], limit: int = MAX_CURVES) -> tuple[list[tuple[float, ...]], int]:
    """The distinct ``keys`` (sorted), or when there are more than ``limit`` the ``limit`` that the most runs hold
    (ties: the smaller first): the curves with the most data to check them. Also returns how many were distinct."""
    counts = Counter(tuple(float(k) for k in key) for key in keys)
    return sorted(sorted(counts, key=lambda key: (-counts[key], key))[:limit]), len(counts)


def _pairs(first: np.ndarray, second: np.ndarray, first_given: Any, second_given: Any) -> tuple[list, str]:
    """Curves' inputs: the (first, second) pairs the runs hold (the 6 with the most runs), or, when either is given,
    the product of the given values with the runs' distinct values of the other; and a note when some were left."""
    if first_given is None and second_given is None:
        pairs, held = most_run(list(zip(first, second, strict=True)))
        return pairs, (f"\n({len(pairs)} of {held} pairs in the runs: those with the most runs)"
                       if held > len(pairs) else "")
    return list(itertools.product(chosen(first, first_given), chosen(second, second_given))), ""


def _distilled_curves(ax: Axes, posterior: Any, student_sizes: Any, teacher_losses: Any) -> None:
    """Distilled student loss against D_S, one curve per (N_S, L_T), with the distilled runs on their curve."""
    runs = runs_of_kind(posterior, "distilled")
    N, D, L_T, loss = (runs[v].values.astype(float) for v in ("N", "D", "teacher_loss", "loss"))
    pairs, note = _pairs(N, L_T, student_sizes, teacher_losses)
    tokens = log_grid(D if D.size else posterior.scale.student_sizes, limits=posterior.scale.bounds)
    for (n, lt), color in zip(pairs, colors(len(pairs)), strict=True):
        draws = posterior.predict(N_S=n, D_S=tokens, L_T=lt)
        draw_bands(ax, tokens, draws, color, label=f"$N_S$={sci(n)}, $L_T$={lt:.3g}")
        on_curve = matches(N, n) & matches(L_T, lt)
        draw_observed(ax, D[on_curve], loss[on_curve], color)
    ax.set(xscale="log", xlabel="distillation tokens $D_S$ (tokens)", ylabel=LOSS_LABEL,
           title="distilled students at fixed teachers" + note)
    ax.legend(fontsize="x-small")


def _supervised_curves(ax: Axes, posterior: Any) -> None:
    """The supervised law against D, one curve per supervised size run, with those runs on their curve."""
    runs = runs_of_kind(posterior, "supervised")
    N, D, loss = (runs[v].values.astype(float) for v in ("N", "D", "loss"))
    sizes, held = most_run([(n,) for n in N])
    sizes = np.ravel(sizes)
    tokens = log_grid(D if D.size else [1.0], limits=posterior.scale.bounds)
    for n, color in zip(sizes, colors(sizes.size, "plasma"), strict=True):
        draw_bands(ax, tokens, posterior.predict(n, tokens), color, label=f"$N$={sci(n)}")
        draw_observed(ax, D[matches(N, n)], loss[matches(N, n)], color)
    note = f"\n({sizes.size} of {held} sizes: those with the most runs)" if held > sizes.size else ""
    ax.set(xscale="log", xlabel="training tokens $D$ (tokens)", ylabel=LOSS_LABEL,
           title="supervised law $L(N, D)$" + note)
    ax.legend(fontsize="x-small")


def loss_vs_tokens(posterior: Any, *, student_sizes: Any = None, teacher_losses: Any = None) -> Figure:
    """Loss (nats/token) against tokens: two panels.

    Left: the distilled student's loss L_S against its distillation tokens D_S (tokens) at fixed teachers, one
    curve per (student size N_S in parameters, teacher loss L_T in nats/token) pair of the distilled runs; given
    ``student_sizes`` and/or ``teacher_losses``, one per pair of their product (the runs' distinct values stand in
    for one not given). Right: the supervised law L(N, D) against D for each size N of the supervised runs.
    Curves reach 10x beyond the runs' tokens, within the posterior's bounds; observed runs sit on their curve.
    A fit of supervised runs only has no distillation law to draw: its figure is the right panel alone.
    """
    distilled = bool((posterior.runs["kind"].values.astype(str) == "distilled").any())
    fig, axes = new_figure(2 if distilled else 1)
    if distilled:
        _distilled_curves(axes[0], posterior, student_sizes, teacher_losses)
    _supervised_curves(axes[-1], posterior)
    band_key(fig)
    tidy_log_axes(fig)
    return fig


def _nearest_budget(compute: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """Index of the budget each run's compute 3 F(N) D is near (within a factor NEAR_BUDGET), else -1."""
    distance = np.abs(np.log(compute)[:, None] - np.log(budgets)[None, :])
    nearest = distance.argmin(axis=1)
    return np.where(distance[np.arange(compute.size), nearest] <= np.log(NEAR_BUDGET), nearest, -1)


def profile_budgets(compute: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The budgets (FLOPs) the runs lay IsoFLOP profiles on: groups of runs whose compute lies within a factor
    NEAR_BUDGET of the group's smallest and that hold at least two sizes, each at its geometric mean compute;
    at most MAX_CURVES, those with the most runs."""
    groups: list[list[int]] = []
    for i in np.argsort(compute):
        if groups and compute[i] <= compute[groups[-1][0]] * NEAR_BUDGET:
            groups[-1].append(i)
        else:
            groups.append([i])
    profiles = [g for g in groups if np.unique(sizes[g]).size >= 2]
    profiles = sorted(profiles, key=len, reverse=True)[:MAX_CURVES]
    return np.sort([float(np.exp(np.log(compute[g]).mean())) for g in profiles])


def isoflop_profiles(posterior: Any, *, budgets: Any = None) -> Figure:
    """Supervised loss (nats/token) against model size N (parameters) at fixed compute C = 3 F(N) D (FLOPs).

    ``budgets`` (FLOPs) default to the IsoFLOP profiles the supervised runs hold (runs of two or more sizes within
    20% of one compute, ``profile_budgets``), else to 4 spread over the runs' training compute. F is the forward
    FLOPs per token of the posterior's architecture (Eq. 69). Each supervised run whose own 3 F(N) D lies within
    20% of a budget is drawn, in its colour, on that budget's profile. The curves keep to sizes 3x beyond the runs'
    whose D lies within the posterior's bounds.
    """
    arch, bounds = posterior.architecture, posterior.scale.bounds
    runs = runs_of_kind(posterior, "supervised")
    N, D, loss = (runs[v].values.astype(float) for v in ("N", "D", "loss"))
    compute = 3.0 * np.asarray(forward_flops(N, arch)) * D
    if budgets is None:
        budgets = profile_budgets(compute, N)
        if not budgets.size:
            budgets = posterior.scale.budgets(ISOFLOP_BUDGETS, trained=True)
    budgets = np.unique(np.atleast_1d(np.asarray(budgets, float)))
    near = _nearest_budget(compute, budgets)
    fig, (ax,) = new_figure(1, width=6.0)
    sizes = log_grid(N if N.size else posterior.scale.student_sizes, limits=bounds)
    for i, (budget, color) in enumerate(zip(budgets, colors(budgets.size, "plasma"), strict=True)):
        tokens = budget / (3.0 * np.asarray(forward_flops(sizes, arch)))
        keep = (tokens >= bounds[0]) & (tokens <= bounds[1])
        draw_bands(ax, sizes[keep], posterior.predict(sizes[keep], tokens[keep]), color, label=f"C={sci(budget)} FLOPs")
        draw_observed(ax, N[near == i], loss[near == i], color)
    ax.set(xscale="log", xlabel="model size $N$ (parameters)", ylabel=LOSS_LABEL,
           title="IsoFLOP profiles of the supervised law, $C = 3F(N)D$")
    ax.legend(fontsize="x-small")
    band_key(fig)
    tidy_log_axes(fig)
    return fig


def capacity_gap(posterior: Any, *, student_sizes: Any = None, student_tokens: Any = None) -> Figure:
    """Distilled student loss L_S against teacher loss L_T (both nats/token) for fixed students.

    One curve per (N_S in parameters, D_S in tokens) pair of the distilled runs; given ``student_sizes`` and/or
    ``student_tokens``, one per pair of their product (the runs' distinct values stand in for one not given).
    By default at most 6 curves, those with the most runs. L_T spans the runs' losses, 15% beyond. Dotted: the
    median of the same student trained supervised, L(N_S, D_S); dashed grey: L_S = L_T, which the law's students
    never beat. Observed distilled runs on their curve.
    """
    runs = runs_of_kind(posterior, "distilled")
    N, D, L_T, loss = (runs[v].values.astype(float) for v in ("N", "D", "teacher_loss", "loss"))
    pairs, note = _pairs(N, D, student_sizes, student_tokens)
    every_loss = np.concatenate([posterior.runs["loss"].values, L_T]).astype(float)
    teacher_losses = log_grid(every_loss, margin=TEACHER_LOSS_MARGIN)
    fig, (ax,) = new_figure(1, width=6.0)
    for i, ((n, d), color) in enumerate(zip(pairs, colors(len(pairs)), strict=True)):
        draw_bands(ax, teacher_losses, posterior.predict(N_S=n, D_S=d, L_T=teacher_losses), color,
                   label=f"$N_S$={sci(n)}, $D_S$={sci(d)}")
        alone = quantile(summarize_draws(posterior.predict(n, d)), 0.5)[0]
        ax.axhline(alone, color=color, linestyle=":", linewidth=1.2,
                   label="same student supervised, $L(N_S, D_S)$" if i == 0 else None)
        on_curve = matches(N, n) & matches(D, d)
        draw_observed(ax, L_T[on_curve], loss[on_curve], color)
    ax.plot(teacher_losses, teacher_losses, color="0.5", linestyle="--", linewidth=1, label="$L_S = L_T$")
    ax.set(xlabel="teacher loss $L_T$ (nats/token)", ylabel="student loss $L_S$ (nats/token)",
           title="capacity gap: student loss against teacher loss" + note)
    ax.legend(fontsize="x-small")
    band_key(fig)
    tidy_log_axes(fig)
    return fig
