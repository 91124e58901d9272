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


# Hand counts at context T = 64, vocabulary V = 256, head_dim 32, d_model = 32 L, d_ffn = round(8/3 d):
# (layers, group, matmul weights, gains, counted FLOPs per token over the full T x T attention square).
#  1 layer, d 32, 1 head, d_ffn 85: W_QKV 32 x 96 = 3072, W_O 1024, MLP 3 x 32 x 85 = 8160 -> 12256;
#    gains 32 + 32 (block norms) + 32 + 32 (QK-norm) + 32 (final) = 160;
#    FLOPs 2 x 12256 + (QK^T + AV: 2 x 2 x T x 32 = 8192) + (unembedding 2 x 32 x 256 = 16384) = 49088.
#  2 layers, d 64, 2 heads, d_ffn 171: per layer 64 x 192 + 64 x 64 + 3 x 64 x 171 = 12288 + 4096 + 32832 = 49216;
#    gains 2 x (64 + 64 + 32 + 32) + 64 = 448; FLOPs 2 x 98432 + 2 x 4 x 64 x 64 + 2 x 64 x 256 = 262400.
#  4 layers, d 128, 4 query and 2 key/value heads, d_ffn 341: per layer 128 x (4 + 2 + 2) x 32 = 32768 (W_QKV)
#    + 16384 (W_O) + 3 x 128 x 341 = 130944 -> 180096; gains 4 x (128 + 128 + 32 + 32) + 128 = 1408;
#    FLOPs 2 x 720384 + 4 x 4 x 64 x 128 (keys and values repeated per query head: no FLOPs) + 2 x 128 x 256
#    = 1637376.
HAND_COUNTS = [(1, 1, 12256, 160, 49088), (2, 1, 98432, 448, 262400), (4, 2, 720384, 1408, 1637376)]


@pytest.mark.parametrize(("layers", "group", "matmul", "gains", "counted_total"), HAND_COUNTS)
def test_flops_per_token_against_hand_count(layers, group, matmul, gains, counted_total):
    cfg = ModelConfig(n_layers=layers, vocab_size=256, context_length=64, group_size=group)
    model = Transformer(cfg)
    assert model.n_params == matmul + gains
    counted = count_forward_flops_per_token(model)
    assert counted["total"] == counted_total
    d, T = 32 * layers, 64
    causal = counted_total - 2 * T * d * layers  # half the square: 2 T d per layer instead of 4 T d
    assert counted["causal"] == causal
    # Eq. 69 at the matmul weights alone (N = omega L d^2) is exactly the causal count: 2N + 2 L d T + 2 d V
    assert forward_flops(float(matmul), cfg.architecture()) == pytest.approx(causal, rel=1e-12)
    # the model's own Eq. 69 uses N with its gains: the causal count of the shape d' = (rho N / omega)^(1/3)
    omega = matmul / (layers * d * d)
    d_eff = (32 * (matmul + gains) / omega) ** (1 / 3)
    f_eq69 = 2 * (matmul + gains) + 2 * (d_eff / 32) * d_eff * T + 2 * d_eff * 256
    assert model.forward_flops_per_token() == pytest.approx(f_eq69, rel=1e-12)
    assert causal < f_eq69 < 1.01 * causal


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
