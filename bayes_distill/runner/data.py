"""Token sources: a synthetic Markov language with an exact entropy rate, and byte-level real text.

Every source gives three disjoint token streams, as in the paper: ``teacher`` (teacher pretraining and
supervised IsoFLOP runs), ``student`` (supervised and distilled students) and ``validation`` (held out).
A stream hands out batches by step index, so a run (or a cool-down branch of one) sees the same tokens
whatever happened before, and a CPU run repeats exactly.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

STREAMS = ("teacher", "student", "validation")
_STREAM_SALT = {"teacher": 11, "student": 23, "validation": 37}
POPULARITY_EXPONENT = 0.5
"""Exponent a of the Markov source's global token popularity rank**-a, which picks each context's support.

Fixed, not tied to ``zipf`` (which shapes the weights within a support): tying it would change the language of
every existing spec (the grids in experiments/ are calibrated on theirs) but not its runs' keys, which hash the
data settings, so a resumed sweep would mix two languages."""


@dataclass(frozen=True)
class DataConfig:
    """Which source to draw tokens from.

    source: "markov" (synthetic) or "text" (bytes of ``paths``; "builtin" names the text shipped here).
    Markov: ``vocab_size`` tokens, order ``order`` (contexts = vocab_size**order), each context allows
    ``support`` next tokens with Zipf weights rank**-(``zipf`` x U(0.5, 1.5)) (``zipf`` = 0: uniform); which
    tokens a context allows follows a fixed popularity (``POPULARITY_EXPONENT``); ``seed`` fixes the language.
    """

    source: str = "markov"
    vocab_size: int = 64
    order: int = 2
    support: int = 8
    zipf: float = 1.0
    seed: int = 0
    paths: tuple[str, ...] = ("builtin",)
    validation_fraction: float = 0.1
    context_length: int = 128

    def __post_init__(self) -> None:
        if self.source not in ("markov", "text"):
            raise ValueError(f"data.source must be 'markov' or 'text'; got {self.source!r}")
        for name in ("vocab_size", "order", "support", "context_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"data.{name} must be a positive integer; got {value!r}")
        if self.source == "markov":
            if self.support > self.vocab_size:
                raise ValueError(f"data.support={self.support} exceeds data.vocab_size={self.vocab_size}")
            if self.vocab_size**self.order > 2_000_000:
                raise ValueError(
                    f"data.vocab_size**data.order = {self.vocab_size**self.order} contexts is too many"
                )
        if not (self.zipf >= 0):
            raise ValueError(f"data.zipf must be >= 0; got {self.zipf!r}")
        if not (0 < self.validation_fraction < 0.5):
            raise ValueError(
                f"data.validation_fraction must lie in (0, 0.5); got {self.validation_fraction!r}"
            )

    @property
    def model_vocab(self) -> int:
        """Vocabulary the model needs: the Markov vocabulary, or 256 for bytes."""
        return self.vocab_size if self.source == "markov" else 256

    def to_dict(self) -> dict:
        d = asdict(self)
        d["paths"] = list(self.paths)
        return d


class MarkovSource:
    """A sparse, Zipf-weighted order-k Markov chain over ``V`` tokens with an exactly computed entropy rate.

    Each context (the last k tokens) allows ``support`` next tokens, drawn without replacement from a global
    popularity over the vocabulary (token v weighted (v + 1)**-POPULARITY_EXPONENT), with probabilities
    proportional to rank**-e in random order, e = zipf x U(0.5, 1.5) drawn per context.
    The entropy rate h = sum_c pi(c) H(next | c) uses the chain's stationary distribution pi (power iteration
    to machine precision); sequences start from pi, so every window is stationary.
    """

    def __init__(self, cfg: DataConfig) -> None:
        V, k, s = cfg.vocab_size, cfg.order, cfg.support
        rng = np.random.default_rng(cfg.seed)
        n_ctx = V**k
        glob = 1.0 / np.arange(1, V + 1) ** POPULARITY_EXPONENT
        glob = glob / glob.sum()
        # s distinct next tokens per context, weighted by a global Zipf popularity (Gumbel top-k), in chunks
        # of contexts to bound memory (the draws are the same as in one piece)
        self.next_tokens = np.empty((n_ctx, s), dtype=np.int64)
        chunk = max(1, 2**22 // V)
        for lo in range(0, n_ctx, chunk):
            hi = min(n_ctx, lo + chunk)
            keys = np.log(glob)[None, :] - np.log(-np.log(rng.random((hi - lo, V))))
            top = np.argpartition(-keys, s - 1, axis=1)[:, :s]  # the s largest keys, then in key order
            order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1)
            self.next_tokens[lo:hi] = np.take_along_axis(top, order, axis=1)
        # Zipf weights over the support in random order; the exponent varies by context (x U(0.5, 1.5)), so
        # contexts differ in entropy and the rate depends on the stationary distribution.
        expo = cfg.zipf * rng.uniform(0.5, 1.5, size=(n_ctx, 1))
        w = 1.0 / np.arange(1, s + 1)[None, :] ** expo
        w = np.take_along_axis(w, np.argsort(rng.random((n_ctx, s)), axis=1), axis=1)
        self.probs = w / w.sum(axis=1, keepdims=True)  # (n_ctx, s)
        self.cum = np.cumsum(self.probs, axis=1)
        self.cum[:, -1] = 1.0
        self.V, self.k, self.n_ctx = V, k, n_ctx
        self.stationary = self._stationary()
        h_ctx = -(self.probs * np.log(self.probs)).sum(axis=1)
        self.entropy_rate = float(self.stationary @ h_ctx)
        """Exact entropy rate, nats per token."""

    def _successor(self, ctx: np.ndarray, tok: np.ndarray) -> np.ndarray:
        return (ctx * self.V) % self.n_ctx + tok

    def _stationary(self) -> np.ndarray:
        succ = self._successor(np.arange(self.n_ctx)[:, None], self.next_tokens)  # (n_ctx, s)
        pi = np.full(self.n_ctx, 1.0 / self.n_ctx)
        for _ in range(100_000):
            new = np.bincount(succ.ravel(), weights=(pi[:, None] * self.probs).ravel(), minlength=self.n_ctx)
            # averaging with the previous iterate removes any periodicity without changing the fixed point
            new = 0.5 * (new + pi)
            if np.abs(new - pi).sum() < 1e-14:
                return new / new.sum()
            pi = new
        raise RuntimeError("stationary distribution did not converge")

    def window_floor(self, T: int) -> float:
        """Least expected CE (nats/token) of a model predicting tokens 1..T from 0..T-1 of a window.

        The first k-1 predictions see fewer than k tokens of context: H(X_j | X_<j) from the marginals of pi.
        """
        joint = self.stationary.reshape((self.V,) * self.k)
        total, prev_h = 0.0, 0.0
        for j in range(1, min(self.k, T)):
            marg = joint.sum(axis=tuple(range(j + 1, self.k))) if j + 1 < self.k else joint
            m = marg[marg > 0]
            h = float(-(m * np.log(m)).sum())
            if j == 1:
                m0 = joint.sum(axis=tuple(range(1, self.k)))
                m0 = m0[m0 > 0]
                prev_h = float(-(m0 * np.log(m0)).sum())
            total += h - prev_h
            prev_h = h
        n_short = min(self.k, T + 1) - 1
        return (total + (T - n_short) * self.entropy_rate) / T

    def sample(self, n_seq: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """``n_seq`` independent stationary sequences of ``length`` tokens, int64 (n_seq, length)."""
        ctx = rng.choice(self.n_ctx, size=n_seq, p=self.stationary)
        out = np.empty((n_seq, length), dtype=np.int64)
        u = rng.random((length, n_seq))
        first = [(ctx // self.V ** (self.k - 1 - i)) % self.V for i in range(self.k)]
        for t in range(length):
            if t < self.k:
                out[:, t] = first[t]
                continue
            c = self._context(out[:, t - self.k : t])
            j = (u[t][:, None] > self.cum[c]).sum(axis=1)
            out[:, t] = self.next_tokens[c, np.minimum(j, self.cum.shape[1] - 1)]
        return out

    def _context(self, last: np.ndarray) -> np.ndarray:
        c = np.zeros(last.shape[0], dtype=np.int64)
        for i in range(self.k):
            c = c * self.V + last[:, i]
        return c


@functools.lru_cache(maxsize=4)
def markov_source(cfg: DataConfig) -> MarkovSource:
    """The source of ``cfg``, built once per process (a worker reuses it across jobs)."""
    return MarkovSource(cfg)


def builtin_text_path() -> Path:
    """The public-domain text shipped with the package (see texts/README.md)."""
    return Path(str(resources.files("bayes_distill.runner").joinpath("texts")))


def _read_text_bytes(paths: tuple[str, ...]) -> np.ndarray:
    files: list[Path] = []
    for p in paths:
        path = builtin_text_path() if p == "builtin" else Path(p).expanduser()
        if not path.exists():
            raise ValueError(f"data.paths: {p!r} does not exist")
        if path.is_dir():
            files.extend(sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith(".")))
        else:
            files.append(path)
    if not files:
        raise ValueError(f"data.paths: no text files found in {list(paths)!r}")
    data = b"\n".join(f.read_bytes() for f in files)
    return np.frombuffer(data, dtype=np.uint8).astype(np.int64)


class TokenStreams:
    """Disjoint teacher / student / validation streams of one source, batched by step index.

    Markov: independent draws from the source with stream-specific seeds. Text: the byte sequence is cut into
    contiguous parts (validation last, the rest halved between teacher and student); windows are read from a
    stream-specific permutation of window starts, cycling when a stream is exhausted (``epochs`` counts it).
    """

    def __init__(self, cfg: DataConfig) -> None:
        self.cfg = cfg
        self.T = cfg.context_length
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        if cfg.source == "markov":
            self.markov: MarkovSource | None = markov_source(cfg)
            self.entropy_rate = self.markov.entropy_rate
            self.loss_floor = self.markov.window_floor(self.T)
        else:
            self.markov = None
            data = _read_text_bytes(cfg.paths)
            n = len(data)
            n_val = int(n * cfg.validation_fraction)
            half = (n - n_val) // 2
            self.parts = {
                "teacher": data[:half],
                "student": data[half : 2 * half],
                "validation": data[2 * half :],
            }
            for name, part in self.parts.items():
                if len(part) < self.T + 1:
                    raise ValueError(
                        f"data.paths: the {name} part has {len(part)} bytes, fewer than "
                        f"context_length + 1 = {self.T + 1}"
                    )
            self.entropy_rate = math.nan
            self.loss_floor = math.nan

    def batch(self, stream: str, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets (batch_size, T) int64 for ``step`` of ``stream``."""
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {STREAMS}; got {stream!r}")
        seqs = self._windows(stream, step * batch_size, batch_size)
        t = torch.from_numpy(seqs)
        return t[:, :-1], t[:, 1:]

    def _windows(self, stream: str, start: int, count: int) -> np.ndarray:
        salt = _STREAM_SALT[stream]
        if self.markov is not None:
            # one generator per block of 64 windows, so any window range is reproducible on its own
            out, block = [], 64
            b0, b1 = start // block, (start + count - 1) // block
            for b in range(b0, b1 + 1):
                key = (salt, b)
                if key not in self._cache:
                    rng = np.random.default_rng([self.cfg.seed, salt, b])
                    self._cache[key] = self.markov.sample(block, self.T + 1, rng)
                    if len(self._cache) > 8:
                        self._cache.pop(next(iter(self._cache)))
                out.append(self._cache[key])
            allw = np.concatenate(out)
            off = start - b0 * block
            return allw[off : off + count]
        part = self.parts[stream]
        n_win = len(part) - self.T
        idx = np.arange(start, start + count)
        epoch = idx // n_win
        pos = np.empty(count, dtype=np.int64)
        for e in np.unique(epoch):
            perm = np.random.default_rng([self.cfg.seed, salt, int(e)]).permutation(n_win)
            sel = epoch == e
            pos[sel] = perm[idx[sel] % n_win]
        return np.stack([part[p : p + self.T + 1] for p in pos])

    def epochs(self, stream: str, windows: int) -> float:
        """How many passes over ``stream`` a run of ``windows`` windows makes (inf-free: 0 for Markov)."""
        if self.markov is not None:
            return 0.0
        return windows / max(1, len(self.parts[stream]) - self.T)
