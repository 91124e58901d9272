"""The training loop: teacher pretraining, supervised students and distilled students (plain torch).

One call of ``run_job`` trains one model and returns one result row per token budget: a cosine run has one
budget; a warm-up-stable-decay (WSD) run branches a cool-down off the stable phase at every budget, so one
training run yields several (N, D) points (they share a ``group``). Teachers are saved as safetensors.
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from safetensors.torch import load_file, save_file

from bayes_distill.atomic import atomic_path
from bayes_distill.runner.data import DataConfig, TokenStreams
from bayes_distill.runner.model import ModelConfig, Transformer, count_forward_flops_per_token

PREFETCH_DEVICES = ("cuda",)
"""Device types on which the next batch is drawn on a background thread."""


class TrainingError(RuntimeError):
    """A run diverged or produced a non-finite loss."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. lr: peak learning rate; weight_decay: decoupled, per-step decay at the peak lr (it
    follows the schedule: weight_decay x lr_t / lr); batch_size in sequences of context_length tokens;
    eval_batches x batch_size validation windows."""

    lr: float = 3e-3
    min_lr_ratio: float = 0.01
    warmup_frac: float = 0.05
    schedule: str = "cosine"  # or "wsd"
    cooldown_frac: float = 0.2
    weight_decay: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    z_loss: float = 1e-4
    batch_size: int = 32
    eval_batches: int = 8
    seed: int = 0
    compile: bool = False  # torch.compile the model for training (pays a warm-up; for long runs and GPUs)
    diverge_factor: float = 2.0  # loss above diverge_factor * ln(vocab) after warm-up counts as divergence

    def __post_init__(self) -> None:
        for name in ("lr", "batch_size", "eval_batches", "diverge_factor"):
            if not (getattr(self, name) > 0):
                raise ValueError(f"train.{name} must be positive; got {getattr(self, name)!r}")
        for name in ("min_lr_ratio", "warmup_frac", "cooldown_frac", "weight_decay", "z_loss", "grad_clip"):
            if not (getattr(self, name) >= 0):
                raise ValueError(f"train.{name} must be >= 0; got {getattr(self, name)!r}")
        if self.schedule not in ("cosine", "wsd"):
            raise ValueError(f"train.schedule must be 'cosine' or 'wsd'; got {self.schedule!r}")


@dataclass(frozen=True)
class DistillConfig:
    """Student loss (1 - lam) CE + lam tau^2 KD + z-loss; top_k > 0 keeps only the teacher's top-k logits."""

    lam: float = 1.0
    tau: float = 1.0
    top_k: int = 0

    def __post_init__(self) -> None:
        if not (0.0 <= self.lam <= 1.0):
            raise ValueError(f"distill.lam must lie in [0, 1]; got {self.lam!r}")
        if not (self.tau > 0):
            raise ValueError(f"distill.tau must be positive; got {self.tau!r}")
        if self.top_k < 0:
            raise ValueError(f"distill.top_k must be >= 0; got {self.top_k!r}")


def lr_at(step: int, total: int, cfg: TrainConfig, cooldown_start: int | None = None) -> float:
    """Learning rate at ``step`` (0-based) of a ``total``-step run: linear warm-up, then cosine decay to
    min_lr_ratio * lr, or (WSD) constant until ``cooldown_start`` and linear decay to min_lr_ratio * lr."""
    warm = max(1, int(round(cfg.warmup_frac * total)))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    lo = cfg.lr * cfg.min_lr_ratio
    if cfg.schedule == "cosine":
        frac = (step - warm + 1) / max(1, total - warm)
        return lo + 0.5 * (cfg.lr - lo) * (1.0 + math.cos(math.pi * min(1.0, frac)))
    start = total if cooldown_start is None else cooldown_start
    if step < start:
        return cfg.lr
    frac = (step - start + 1) / max(1, total - start)
    return cfg.lr + (lo - cfg.lr) * min(1.0, frac)


def setup_torch(threads: int | None, seed: int) -> torch.device:
    """Seeds, deterministic CPU kernels, thread count; returns CUDA when there is one, else CPU."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        return torch.device("cuda")
    torch.use_deterministic_algorithms(True)
    return torch.device("cpu")


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, tau: float, top_k: int) -> torch.Tensor:
    """KD = -sum_v softmax(z_T/tau)_v log softmax(z_S/tau)_v, mean over tokens (nats/token)."""
    log_q = F.log_softmax(student.float() / tau, dim=-1)
    if top_k:
        vals, idx = teacher.float().topk(top_k, dim=-1)
        return -(F.softmax(vals / tau, dim=-1) * log_q.gather(-1, idx)).sum(-1).mean()
    return -(F.softmax(teacher.float() / tau, dim=-1) * log_q).sum(-1).mean()


def kd_targets(teacher_logits: torch.Tensor, tau: float, top_k: int) -> torch.Tensor:
    """The teacher's distribution softmax(z_T / tau) over the vocabulary (probabilities, fp32); with top_k > 0
    renormalised over its top-k logits and zero elsewhere (so KD against it equals ``kd_loss`` with top_k)."""
    z = teacher_logits.float()
    if not top_k:
        return F.softmax(z / tau, dim=-1)
    vals, idx = z.topk(top_k, dim=-1)
    return torch.zeros_like(z).scatter_(-1, idx, F.softmax(vals / tau, dim=-1))


class StudentLoss(torch.autograd.Function):
    """w_ce CE(data) + w_kd KD(teacher) + z_loss mean(log Z^2) from (tokens, vocab) logits, gradient in closed form.

    Forward: one log-softmax, shared by the three terms (KD at temperature tau; KD = -sum_v p_v log q_v with p
    the teacher targets). Backward: d/dz = [w_ce (q - onehot(y)) + (w_kd / tau) (q_tau - p) + 2 z_loss log Z q]
    / tokens, a handful of elementwise ops instead of autograd's graph through every term. Returns the total
    loss and the data cross-entropy (nats/token; the latter is not differentiated)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        logits: torch.Tensor,
        targets: torch.Tensor,
        teacher_probs: torch.Tensor | None,
        w_ce: float,
        w_kd: float,
        tau: float,
        z_loss: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z = logits.float()
        log_z = torch.logsumexp(z, dim=-1, keepdim=True)
        log_q = z - log_z
        ce = -log_q.gather(-1, targets.unsqueeze(-1)).mean()
        loss = w_ce * ce + z_loss * log_z.square().mean()
        log_q_tau = log_q if tau == 1.0 else F.log_softmax(z / tau, dim=-1)
        if teacher_probs is not None and w_kd:
            loss = loss - (w_kd / z.shape[0]) * torch.vdot(teacher_probs.flatten(), log_q_tau.flatten())
        ctx.save_for_backward(log_q, log_z, targets, log_q_tau, teacher_probs)
        ctx.weights = (w_ce, w_kd, tau, z_loss, logits.dtype)
        ctx.mark_non_differentiable(ce)
        return loss, ce

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor, _grad_ce: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        log_q, log_z, targets, log_q_tau, teacher_probs = ctx.saved_tensors
        w_ce, w_kd, tau, z_loss, dtype = ctx.weights
        kd = teacher_probs is not None and w_kd
        q = log_q.exp()
        coef = (2.0 * z_loss) * log_z + (w_ce + (w_kd if kd and tau == 1.0 else 0.0))
        grad = q * coef
        if kd and tau != 1.0:
            grad.add_(log_q_tau.exp(), alpha=w_kd / tau)
        if kd:
            grad.add_(teacher_probs, alpha=-w_kd / tau)
        grad.scatter_add_(-1, targets.unsqueeze(-1), torch.full_like(log_z, -w_ce))
        grad.mul_(grad_loss / log_q.shape[0])
        return grad.to(dtype), None, None, None, None, None, None


def save_checkpoint(model: Transformer, path: Path, meta: dict[str, Any]) -> None:
    """safetensors, written to a temporary file and moved into place."""
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"model": json.dumps(model.cfg.to_dict()), "meta": json.dumps(meta)})


def load_checkpoint(path: Path, device: torch.device) -> Transformer:
    """Load a model saved by ``save_checkpoint`` (safetensors only; nothing is unpickled)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        cfg = ModelConfig(**json.loads(f.metadata()["model"]))
    model = Transformer(cfg)
    model.load_state_dict(_upgrade_state_dict(load_file(str(path)), cfg))
    return model.to(device).eval()


def _upgrade_state_dict(state: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Checkpoints of the earlier layout (separate wq/wk/wv, half-split RoPE) in today's layout, exactly:
    stack W_Q, W_K, W_V into wqkv and reorder each query/key head's dimensions (and QK-norm gains) from
    (first half, second half) to interleaved pairs, the pairs today's RoPE rotates (scores are unchanged)."""
    if "blocks.0.attn.wq.weight" not in state:
        return state
    hd = cfg.head_dim
    perm = torch.arange(hd).view(2, hd // 2).t().flatten()  # 0, hd/2, 1, hd/2 + 1, ...
    state = dict(state)
    for i in range(cfg.n_layers):
        a = f"blocks.{i}.attn."
        wq, wk, wv = (state.pop(a + n + ".weight") for n in ("wq", "wk", "wv"))
        wq, wk = (w.view(-1, hd, w.shape[1])[:, perm].flatten(0, 1) for w in (wq, wk))
        state[a + "wqkv.weight"] = torch.cat((wq, wk, wv))
        for n in ("q_norm", "k_norm"):
            if a + n + ".weight" in state:
                state[a + n + ".weight"] = state[a + n + ".weight"][perm]
    return state


@torch.no_grad()
def evaluate(
    model: Transformer,
    streams: TokenStreams,
    tcfg: TrainConfig,
    device: torch.device,
    teacher: Transformer | None = None,
) -> dict[str, float]:
    """Validation CE vs the data (nats/token); with a teacher also its CE and KL(teacher || student)."""
    model.eval()
    ce = t_ce = kl = 0.0
    for i in range(tcfg.eval_batches):
        x, y = (t.to(device) for t in streams.batch("validation", i, tcfg.batch_size))
        with _autocast(device):
            logits = model(x)
            t_logits = teacher(x) if teacher is not None else None
        log_q = F.log_softmax(logits.float(), -1)
        ce += F.nll_loss(log_q.flatten(0, 1), y.flatten()).item()
        if t_logits is not None:
            log_p = F.log_softmax(t_logits.float(), -1)
            t_ce += F.nll_loss(log_p.flatten(0, 1), y.flatten()).item()
            kl += (log_p.exp() * (log_p - log_q)).sum(-1).mean().item()
    model.train()
    n = tcfg.eval_batches
    nan = math.nan
    return {
        "loss": ce / n,
        "teacher_loss": t_ce / n if teacher else nan,
        "kl_teacher_student": kl / n if teacher else nan,
    }


def _autocast(device: torch.device) -> Any:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def versions() -> dict[str, str]:
    """Versions recorded with every run; bayes_distill's from the installed metadata, not the package root (the
    runner imports nothing of bayes_distill but its laws)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        own = version("bayes_distill")
    except PackageNotFoundError:  # run from a source tree that is not installed
        own = "?"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "bayes_distill": own,
    }


def make_optimizer(model: Transformer, tcfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on matrices only (per-step decay weight_decay x lr / peak lr); the fused
    kernel updates all parameters in one call (CPU and CUDA)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": tcfg.weight_decay / tcfg.lr},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=tcfg.lr, betas=(tcfg.beta1, tcfg.beta2), eps=1e-8, fused=True)


def train_step(
    model: Transformer,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    tcfg: TrainConfig,
    teacher: Transformer | None = None,
    dist: DistillConfig | None = None,
) -> tuple[float, float]:
    """One optimiser step; returns (cross-entropy vs data, total loss), nats/token.

    Supervised: CE + z-loss. Distilled: (1 - lam) CE + lam tau^2 KD + z-loss, teacher logits computed online
    (forward only, no autograd graph). Clipping and AdamW act on all parameters at once (foreach / fused)."""
    w_ce, w_kd, tau, p = 1.0, 0.0, 1.0, None
    if teacher is not None and dist is not None:
        w_ce, w_kd, tau = 1.0 - dist.lam, dist.lam * dist.tau**2, dist.tau
        with torch.no_grad(), _autocast(x.device):
            p = kd_targets(teacher(x).flatten(0, 1), tau, dist.top_k)
    with _autocast(x.device):
        logits = model(x)
    loss, ce = StudentLoss.apply(logits.flatten(0, 1), y.flatten(), p, w_ce, w_kd, tau, tcfg.z_loss)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if tcfg.grad_clip:
        params = [q for g in opt.param_groups for q in g["params"]]
        torch.nn.utils.clip_grad_norm_(params, tcfg.grad_clip, foreach=True)
    opt.step()
    return ce.item(), loss.item()


@dataclass
class _Progress:
    """Steps done of a job's total, written to its progress file at most every 0.5 s (the sweep's progress bar
    reads it)."""

    path: Path
    total: int
    done: int = 0
    last_write: float = 0.0

    def advance(self) -> None:
        self.done += 1
        self.write()

    def write(self, force: bool = False) -> None:
        now = time.perf_counter()
        if force or now - self.last_write > 0.5:
            self.last_write = now
            with atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps({"done": self.done, "total": self.total}))


@dataclass
class _Job:
    """What a job trains with: the student (and its compiled forward), its optimiser, the teacher, the data."""

    spec: dict[str, Any]
    tcfg: TrainConfig
    mcfg: ModelConfig
    device: torch.device
    streams: TokenStreams
    model: Transformer
    opt: torch.optim.Optimizer
    forward: Any
    teacher: Transformer | None
    teacher_forward: Any
    dist: DistillConfig | None

    @property
    def tokens_per_step(self) -> int:
        return self.tcfg.batch_size * self.mcfg.context_length


def _build_job(job: dict[str, Any], out: Path, threads: int | None) -> _Job:
    """The models, optimiser and data of ``job`` on this process's device."""
    tcfg = TrainConfig(**job["train"])
    device = setup_torch(threads, tcfg.seed)
    streams = TokenStreams(DataConfig(**{**job["data"], "paths": tuple(job["data"]["paths"])}))
    mcfg = ModelConfig(**job["model"])
    model = Transformer(mcfg, seed=tcfg.seed).to(device)
    teacher, dist = None, None
    if job["teacher"]:
        dist = DistillConfig(**job["distill"])
        teacher = load_checkpoint(out / "checkpoints" / f"{job['teacher']['run']}.safetensors", device)
    forward = torch.compile(model) if tcfg.compile else model
    teacher_forward = torch.compile(teacher) if tcfg.compile and teacher is not None else teacher
    return _Job(job, tcfg, mcfg, device, streams, model, make_optimizer(model, tcfg), forward, teacher,
                teacher_forward, dist)


def _train_steps(run: _Job, progress: _Progress, prefetch: ThreadPoolExecutor | None, first: int, last: int,
                 total: int, cooldown_start: int | None) -> None:
    """Optimiser steps ``first`` to ``last`` - 1 of a schedule of ``total`` steps; TrainingError on a non-finite
    loss or, past half the schedule, a training CE above ``diverge_factor`` ln(V)."""
    tcfg, ln_v = run.tcfg, math.log(run.mcfg.vocab_size)

    def fetch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return run.streams.batch(run.spec["stream"], step, tcfg.batch_size)

    ahead = prefetch.submit(fetch, first) if prefetch and first < last else None
    for step in range(first, last):
        lr = lr_at(step, total, tcfg, cooldown_start)
        for g in run.opt.param_groups:
            g["lr"] = lr
        if ahead is not None:
            batch = ahead.result()
            ahead = prefetch.submit(fetch, step + 1) if step + 1 < last else None
        else:
            batch = fetch(step)
        x, y = (t.to(run.device, non_blocking=True) for t in batch)
        value, total_loss = train_step(run.forward, run.opt, x, y, tcfg, run.teacher_forward, run.dist)
        if not math.isfinite(value) or not math.isfinite(total_loss):
            raise TrainingError(f"non-finite loss at step {step}")
        if step > 0.5 * total and value > tcfg.diverge_factor * ln_v:
            raise TrainingError(f"diverged: train CE {value:.3f} > {tcfg.diverge_factor} ln(V) at step {step}")
        progress.advance()


@dataclass(frozen=True)
class _FlopsPerToken:
    """Forward FLOPs per token of the student and the teacher (0 without one), by Eq. 69 and counted."""

    formula: float
    counted: float
    teacher_formula: float
    teacher_counted: float

    @classmethod
    def of(cls, run: _Job) -> _FlopsPerToken:
        teacher = run.teacher
        return cls(run.model.forward_flops_per_token(), count_forward_flops_per_token(run.model)["causal"],
                   teacher.forward_flops_per_token() if teacher is not None else 0.0,
                   count_forward_flops_per_token(teacher)["causal"] if teacher is not None else 0.0)


def _result_row(run: _Job, row_id: str, d_requested: float, n_steps: int, metrics: dict, flops: _FlopsPerToken,
                tokens_per_s: float, t_start: float) -> dict[str, Any]:
    """The result row of one budget (the schema of ``sweep.build_table``)."""
    d_true = float(n_steps * run.tokens_per_step)
    cuda = run.device.type == "cuda"
    return {
        "run": row_id, "group": run.spec["id"], "D": d_true, "D_requested": float(d_requested), "steps": n_steps,
        **metrics,
        "N": float(run.model.n_params), "n_layers": run.mcfg.n_layers, "d_model": run.mcfg.d_model,
        "flops_per_token_formula": flops.formula, "flops_per_token_counted": flops.counted,
        "flops_formula": (3.0 * flops.formula + flops.teacher_formula) * d_true,
        "flops_counted": (3.0 * flops.counted + flops.teacher_counted) * d_true,
        "wall_time_s": time.perf_counter() - t_start, "tokens_per_s": tokens_per_s,
        "entropy_rate": run.streams.entropy_rate, "loss_floor": run.streams.loss_floor,
        "data_epochs": run.streams.epochs(run.spec["stream"], n_steps * run.tcfg.batch_size),
        "device": str(run.device), "precision": "bf16-autocast" if cuda else "fp32",
        "peak_memory_bytes": float(torch.cuda.max_memory_allocated() if cuda else _rss()),
        "versions": json.dumps(versions(), sort_keys=True),
    }


def run_job(job: dict[str, Any], out_dir: str | os.PathLike[str], threads: int | None = None) -> list[dict[str, Any]]:
    """Train the model ``job`` describes and return one result row per budget (see ``sweep.expand``).

    Cosine: one run per budget. WSD: one stable phase, branching into a cool-down at each budget (the model and
    optimiser are restored after each branch but the last). Raises TrainingError on divergence; the orchestrator
    records it as a failed run.
    """
    t_start, out = time.perf_counter(), Path(out_dir)
    run = _build_job(job, out, threads)
    tcfg, wsd = run.tcfg, run.tcfg.schedule == "wsd"
    budgets = sorted(job["budgets"])
    steps = [max(1, math.ceil(d / run.tokens_per_step)) for d in budgets]
    cool = [max(1, int(round(tcfg.cooldown_frac * s))) if wsd else 0 for s in steps]
    progress = _Progress(out / "progress" / f"{job['id']}.json", steps[-1] + sum(cool[:-1]))
    progress.path.parent.mkdir(parents=True, exist_ok=True)
    if run.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    flops, rows, step, train_time = _FlopsPerToken.of(run), [], 0, 0.0
    # On a GPU the next batch is drawn on a CPU thread while the current step runs (batches are indexed by step,
    # so this changes no result); on CPU the cores are busy training and batches are drawn in line.
    prefetch = ThreadPoolExecutor(1) if run.device.type in PREFETCH_DEVICES else None
    try:
        for i, (d_run, n_steps) in enumerate(zip(budgets, steps, strict=True)):
            t0 = time.perf_counter()
            branch_at = n_steps - cool[i] if wsd else n_steps
            _train_steps(run, progress, prefetch, step, branch_at, steps[-1] if wsd else n_steps, None)
            step, snapshot = branch_at, None
            if wsd:
                if i < len(budgets) - 1:
                    snapshot = (copy.deepcopy(run.model.state_dict()), copy.deepcopy(run.opt.state_dict()))
                _train_steps(run, progress, prefetch, branch_at, n_steps, n_steps, branch_at)
            train_time += time.perf_counter() - t0
            metrics = evaluate(run.model, run.streams, tcfg, run.device, run.teacher)
            if not math.isfinite(metrics["loss"]):
                raise TrainingError(f"non-finite validation loss at budget {d_run:.4g}")
            row_id = job["row_ids"][i]
            if job["save_checkpoint"]:
                (out / "checkpoints").mkdir(parents=True, exist_ok=True)
                save_checkpoint(run.model, out / "checkpoints" / f"{row_id}.safetensors",
                                {"run": row_id, "D": n_steps * run.tokens_per_step})
            tokens_per_s = progress.done * run.tokens_per_step / max(train_time, 1e-9)
            rows.append(_result_row(run, row_id, d_run, n_steps, metrics, flops, tokens_per_s, t_start))
            if snapshot is not None:
                run.model.load_state_dict(snapshot[0])
                run.opt.load_state_dict(snapshot[1])
    finally:  # a failed job leaves no thread behind
        if prefetch is not None:
            prefetch.shutdown(cancel_futures=True)
    progress.write(force=True)
    return rows


def _rss() -> float:
    """Peak resident memory of this process in bytes (Linux ru_maxrss is in KiB)."""
    import resource

    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024.0
