"""A small decoder-only transformer in the paper's family (nanoGPT-sized, one file).

Pre-norm RMSNorm, rotary position embeddings (RoPE), optional QK-norm, grouped-query attention and a gated
(SwiGLU) MLP. Sizes follow a fixed aspect ratio rho = d_model / n_layers, so the number of layers names a
size. ``n_params`` is the non-embedding parameter count N as the laws count it (normalisation gains included,
input embedding and unembedding excluded); ``forward_flops_per_token`` is Eq. 69 with this model's own
architecture.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from bayes_distill.laws.compute import Architecture, forward_flops


@dataclass(frozen=True)
class ModelConfig:
    """Shape of one model. d_model = aspect_ratio * n_layers; all sizes are counts (not bytes)."""

    n_layers: int
    vocab_size: int = 256
    context_length: int = 128
    aspect_ratio: int = 32
    head_dim: int = 32
    group_size: int = 1  # query heads per key/value head
    ffn_ratio: float = 8.0 / 3.0
    qk_norm: bool = True

    def __post_init__(self) -> None:
        for name in ("n_layers", "vocab_size", "context_length", "aspect_ratio", "head_dim", "group_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"model.{name} must be a positive integer; got {value!r}")
        if not (self.ffn_ratio > 0):
            raise ValueError(f"model.ffn_ratio must be positive; got {self.ffn_ratio!r}")
        if self.d_model % self.head_dim:
            raise ValueError(f"d_model={self.d_model} is not a multiple of model.head_dim={self.head_dim}")
        if self.n_heads % self.group_size:
            raise ValueError(
                f"n_heads={self.n_heads} is not a multiple of model.group_size={self.group_size}"
            )

    @property
    def d_model(self) -> int:
        return self.aspect_ratio * self.n_layers

    @property
    def n_heads(self) -> int:
        return self.d_model // self.head_dim

    @property
    def d_ffn(self) -> int:
        return int(round(self.ffn_ratio * self.d_model))

    def architecture(self, flops: str = "eq69") -> Architecture:
        """The laws' Architecture of this shape (ffn_ratio from the rounded width: omega is exact)."""
        return Architecture(
            context_length=self.context_length,
            vocab_size=self.vocab_size,
            aspect_ratio=float(self.aspect_ratio),
            group_size=float(self.group_size),
            n_ffn=3,
            ffn_ratio=self.d_ffn / self.d_model,
            flops=flops,
        )

    def to_dict(self) -> dict:
        return asdict(self)


def _rope(x: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs (x[2i], x[2i+1]) of the last dimension by the angles of ``rot``.

    x is (B, T, heads, hd) real; rot is (T, 1, hd/2) complex (unit phases). One complex multiply instead of the
    half-split form's seven elementwise ops (the same rotary embedding with its pairs interleaved)."""
    xc = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))  # no complex bf16: rotate in fp32
    return torch.view_as_real(xc * rot).flatten(-2).type_as(x)


class Attention(nn.Module):
    explicit = False  # attention as plain matmuls on every device (for FlopCounterMode)
    matmul_on_cpu = True  # on CPU plain matmuls are faster than the flash kernel at short contexts

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d, hd = cfg.d_model, cfg.head_dim
        self.n_heads, self.n_kv, self.hd = cfg.n_heads, cfg.n_heads // cfg.group_size, hd
        self.wqkv = nn.Linear(d, (self.n_heads + 2 * self.n_kv) * hd, bias=False)  # W_Q, W_K, W_V stacked
        self.wo = nn.Linear(d, d, bias=False)
        self.q_norm = nn.RMSNorm(hd, eps=1e-6) if cfg.qk_norm else None
        self.k_norm = nn.RMSNorm(hd, eps=1e-6) if cfg.qk_norm else None

    def forward(self, x: torch.Tensor, rot: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        h, kv = self.n_heads, self.n_kv
        qk, v = self.wqkv(x).view(B, T, h + 2 * kv, self.hd).split((h + kv, kv), dim=2)  # (B, T, heads, hd)
        if self.q_norm is not None and self.k_norm is not None:  # QK-norm of all query and key heads at once
            gain = torch.cat((self.q_norm.weight.expand(h, -1), self.k_norm.weight.expand(kv, -1)))
            qk = F.rms_norm(qk, (self.hd,), eps=1e-6) * gain
        q, k = _rope(qk, rot).transpose(1, 2).split((h, kv), dim=1)  # (B, heads, T, hd)
        v = v.transpose(1, 2)
        if kv != h:
            k, v = k.repeat_interleave(h // kv, dim=1), v.repeat_interleave(h // kv, dim=1)
        if self.explicit or (self.matmul_on_cpu and x.device.type == "cpu"):
            # batched matmuls with an additive causal mask (a FLOP counter sees the full T x T square)
            q, k, v = q.reshape(B * h, T, self.hd), k.reshape(B * h, T, self.hd), v.reshape(B * h, T, self.hd)
            scores = torch.baddbmm(mask[:T, :T], q, k.transpose(1, 2), alpha=1.0 / math.sqrt(self.hd))
            y = torch.bmm(scores.softmax(dim=-1), v).view(B, h, T, self.hd)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(y.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(cfg.d_model, cfg.d_ffn, bias=False)
        self.w3 = nn.Linear(cfg.d_model, cfg.d_ffn, bias=False)
        self.w2 = nn.Linear(cfg.d_ffn, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.attn = Attention(cfg)
        self.mlp_norm = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, rot: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), rot, mask)
        return x + self.mlp(self.mlp_norm(x))


class Transformer(nn.Module):
    """Decoder-only language model: tokens (B, T) int64 -> logits (B, T, vocab)."""

    def __init__(self, cfg: ModelConfig, seed: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.unembed = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        inv = 1.0 / (10000.0 ** (torch.arange(0, cfg.head_dim, 2, dtype=torch.float64) / cfg.head_dim))
        angles = torch.outer(torch.arange(cfg.context_length, dtype=torch.float64), inv)
        rot = torch.polar(torch.ones_like(angles), angles).to(torch.complex64)
        self.register_buffer("rot", rot, persistent=False)  # (T, head_dim / 2) unit phases
        mask = torch.full((cfg.context_length, cfg.context_length), float("-inf")).triu(1)
        self.register_buffer("mask", mask, persistent=False)  # additive causal mask: -inf above the diagonal
        self.reset_parameters(None if seed is None else torch.Generator().manual_seed(seed))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Normal(0, 0.02) weights; residual output projections scaled by 1/sqrt(2 n_layers); gains 1.

        A seeded ``generator`` makes the initialisation independent of torch's global random state (so jobs
        sharing a process, e.g. Dask threads, initialise exactly as they would alone)."""
        out_std = 0.02 / math.sqrt(2 * self.cfg.n_layers)
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.ones_(p)
            else:
                std = out_std if name.endswith(("wo.weight", "w2.weight")) else 0.02
                nn.init.normal_(p, mean=0.0, std=std, generator=generator)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        if self.cfg.context_length < T:
            raise ValueError(f"sequence length {T} exceeds context_length={self.cfg.context_length}")
        rot = self.rot[:T].unsqueeze(1)
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x, rot, self.mask)
        return self.unembed(self.norm(x))

    @property
    def n_params(self) -> int:
        """Non-embedding parameters N (normalisation gains included; embedding and unembedding excluded)."""
        skip = {id(self.embed.weight), id(self.unembed.weight)}
        return sum(p.numel() for p in self.parameters() if id(p) not in skip)

    def forward_flops_per_token(self, flops: str = "eq69") -> float:
        """Forward FLOPs per token from the laws' Eq. 69 with this model's architecture (FLOPs/token)."""
        return float(forward_flops(float(self.n_params), self.cfg.architecture(flops)))


def count_forward_flops_per_token(model: Transformer, batch: int = 1) -> dict[str, float]:
    """Count the matrix-multiply FLOPs of one forward pass over a full context (FLOPs per token).

    Uses torch's FlopCounterMode. Its attention count covers the full T x T score matrix; a causal model needs
    only half of it on average, so ``causal`` halves that part, which is what Eq. 69 counts.
    """
    from torch.utils.flop_counter import FlopCounterMode

    cfg = model.cfg
    T = cfg.context_length
    idx = torch.zeros(batch, T, dtype=torch.long, device=next(model.parameters()).device)
    counter = FlopCounterMode(display=False)
    attns = [m for m in model.modules() if isinstance(m, Attention)]
    try:
        for a in attns:
            a.explicit = True
        with torch.no_grad(), counter:
            model(idx)
    finally:
        for a in attns:
            a.explicit = False
    total = float(counter.get_total_flops()) / (batch * T)
    attention = 4.0 * T * cfg.n_heads * cfg.head_dim * cfg.n_layers  # QK^T and AV, full square, per token
    return {"total": total, "attention_full": attention, "causal": total - attention / 2.0}
