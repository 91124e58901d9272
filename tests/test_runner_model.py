"""The runner's transformer: parameter count, FLOPs against a count of its matrix multiplies, causality."""

import pytest
import torch

from bayes_distill.laws.compute import forward_flops
from bayes_distill.runner.model import ModelConfig, Transformer, count_forward_flops_per_token


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_n_params_is_omega_d2_per_layer_plus_gains(layers):
    cfg = ModelConfig(n_layers=layers, vocab_size=64, context_length=32, ffn_ratio=3.0)
    model = Transformer(cfg)
    d = cfg.d_model
    omega = cfg.architecture().omega  # 2 + 2/g + 3 * 3 = 13
    assert omega == pytest.approx(13.0)
    gains = layers * (2 * d + 2 * cfg.head_dim) + d
    assert model.n_params == layers * omega * d * d + gains
    total = sum(p.numel() for p in model.parameters())
    assert total - model.n_params == 2 * 64 * d  # embedding and unembedding are not counted


@pytest.mark.parametrize(("layers", "group"), [(1, 1), (2, 1), (4, 2)])
def test_eq69_matches_counted_matmul_flops(layers, group):
    cfg = ModelConfig(n_layers=layers, vocab_size=256, context_length=64, group_size=group)
    model = Transformer(cfg)
    counted = count_forward_flops_per_token(model)
    d, L, T, V = cfg.d_model, layers, 64, 256
    matmul_params = model.n_params - (L * (2 * d + 2 * cfg.head_dim) + d)
    # what the counter sees: 2 FLOPs per weight, the full T x T attention (QK^T and AV) and the unembedding
    assert counted["total"] == pytest.approx(2 * matmul_params + 4 * T * d * L + 2 * V * d, rel=1e-12)
    formula = forward_flops(float(model.n_params), cfg.architecture())
    assert model.forward_flops_per_token() == pytest.approx(formula)
    # Eq. 69 counts causal attention (half the square) and normalisation gains as 2 FLOPs each: within 1%
    assert counted["causal"] == pytest.approx(formula, rel=0.01)
    assert counted["causal"] < formula


def test_forward_shape_and_causality():
    torch.manual_seed(0)
    cfg = ModelConfig(n_layers=2, vocab_size=50, context_length=16)
    model = Transformer(cfg).eval()
    x = torch.randint(0, 50, (2, 16))
    y = model(x)
    assert y.shape == (2, 16, 50)
    x2 = x.clone()
    x2[:, 10:] = (x2[:, 10:] + 1) % 50
    y2 = model(x2)
    torch.testing.assert_close(y[:, :10], y2[:, :10])  # the future does not leak into the past
    assert not torch.allclose(y[:, 10:], y2[:, 10:])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"n_layers": 0}, "n_layers"), ({"n_layers": 2, "head_dim": 24}, "head_dim"),
     ({"n_layers": 1, "vocab_size": -3}, "vocab_size"), ({"n_layers": 2, "group_size": 3}, "group_size")],
)
def test_bad_model_config_names_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ModelConfig(**kwargs)


def test_sequence_longer_than_context_rejected():
    model = Transformer(ModelConfig(n_layers=1, vocab_size=10, context_length=8))
    with pytest.raises(ValueError, match="context_length"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_cpu_matmul_attention_matches_fused_kernel(monkeypatch):
    from bayes_distill.runner.model import Attention

    torch.manual_seed(0)
    model = Transformer(ModelConfig(n_layers=4, vocab_size=50, context_length=16, group_size=2)).eval()
    x = torch.randint(0, 50, (2, 16))
    with torch.no_grad():
        y = model(x)  # on CPU: batched matmuls with an additive causal mask
        monkeypatch.setattr(Attention, "matmul_on_cpu", False)
        y_sdpa = model(x)  # torch's scaled_dot_product_attention
    torch.testing.assert_close(y, y_sdpa, rtol=1e-5, atol=1e-5)
