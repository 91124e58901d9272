"""Token sources: exact entropy rate of the Markov source, disjoint and reproducible streams, byte text."""

import math

import numpy as np
import pytest
import torch

from bayes_distill.runner.data import DataConfig, MarkovSource, TokenStreams, builtin_text_path


def test_stationary_distribution_is_fixed_point():
    src = MarkovSource(DataConfig(vocab_size=16, order=2, support=4, seed=3))
    pi = src.stationary
    assert pi.sum() == pytest.approx(1.0, abs=1e-12)
    succ = src._successor(np.arange(src.n_ctx)[:, None], src.next_tokens)
    moved = np.bincount(succ.ravel(), weights=(pi[:, None] * src.probs).ravel(), minlength=src.n_ctx)
    np.testing.assert_allclose(moved, pi, atol=1e-13)


def test_entropy_rate_matches_sampled_log_likelihood():
    cfg = DataConfig(vocab_size=16, order=2, support=4, zipf=1.0, seed=5, context_length=64)
    src = MarkovSource(cfg)
    seqs = src.sample(2000, 65, np.random.default_rng(0))
    # log-probability of each sampled token under the true source, after the first k tokens
    nll = []
    for t in range(2, 65):
        c = src._context(seqs[:, t - 2:t])
        j = (src.next_tokens[c] == seqs[:, t][:, None]).argmax(1)
        nll.append(-np.log(src.probs[c, j]))
    nll = np.concatenate(nll)
    stderr = nll.std() / math.sqrt(nll.size)
    assert abs(nll.mean() - src.entropy_rate) < 4 * stderr
    assert 0 < src.entropy_rate < math.log(4)


def test_zipf_shapes_the_weights_within_each_support():
    """zipf = 0: a context's allowed next tokens are equally likely (entropy rate ln(support) exactly); zipf = z: its
    sorted probabilities fall as rank**-e, e in [0.5 z, 1.5 z] per context, so a larger zipf lowers the entropy rate.
    Which tokens a context allows follows the fixed popularity (v + 1)**-0.5, whatever zipf says."""
    base = {"vocab_size": 16, "order": 2, "support": 4, "seed": 3}
    flat, one, two = (MarkovSource(DataConfig(**base, zipf=z)) for z in (0.0, 1.0, 2.0))
    np.testing.assert_allclose(flat.probs, 0.25, rtol=1e-15)
    assert flat.entropy_rate == pytest.approx(math.log(4), rel=1e-12)
    for src, z in ((one, 1.0), (two, 2.0)):
        p = np.sort(src.probs, axis=1)[:, ::-1]
        e = np.log(p[:, 0] / p[:, 1]) / math.log(2)  # p_1 / p_2 = 2**e
        np.testing.assert_allclose(np.log(p[:, 0] / p[:, 3]) / math.log(4), e, rtol=1e-12)  # p_1 / p_4 = 4**e
        assert 0.5 * z <= e.min() and e.max() <= 1.5 * z and e.max() - e.min() > 0.8 * z
    assert math.log(4) > one.entropy_rate > two.entropy_rate
    np.testing.assert_array_equal(one.next_tokens, two.next_tokens)
    allowed = np.bincount(one.next_tokens.ravel(), minlength=16)  # 256 contexts x 4 tokens
    assert allowed[:4].sum() > allowed[-4:].sum()  # popular tokens (weights 1 .. 0.5) beat rare ones (0.28 .. 0.25)


def test_window_floor_above_entropy_rate_and_converges():
    src = MarkovSource(DataConfig(vocab_size=16, order=3, support=4, seed=1))
    f8, f512 = src.window_floor(8), src.window_floor(512)
    assert f8 > f512 > src.entropy_rate
    assert f512 - src.entropy_rate < 0.02


def test_streams_reproducible_and_batched_by_window():
    st = TokenStreams(DataConfig(vocab_size=32, order=2, support=4, context_length=16))
    x1, y1 = st.batch("teacher", 5, 8)
    x2, y2 = TokenStreams(st.cfg).batch("teacher", 5, 8)
    assert x1.shape == (8, 16) and bool((x1 == x2).all()) and bool((y1[:, :-1] == x1[:, 1:]).all())
    # batch b of size 8 equals windows 8b..8b+7 whatever the batch size
    x4, _ = st.batch("teacher", 11, 4)
    assert bool((x4 == x1[4:]).all())


def test_markov_streams_draw_from_disjoint_generators(monkeypatch):
    """Markov streams are disjoint by construction: every block of 64 windows comes from its own generator, seeded
    (data seed, stream, block), and no two streams share a seed; with 65-token windows no window recurs either."""
    st = TokenStreams(DataConfig(vocab_size=32, order=2, support=4, context_length=64, seed=9))
    seeds, real = [], np.random.default_rng

    def recording_rng(seed):
        seeds.append(tuple(seed))
        return real(seed)

    monkeypatch.setattr(np.random, "default_rng", recording_rng)
    windows, used = {}, {}
    for stream in ("teacher", "student", "validation"):
        seeds.clear()
        x, y = zip(*(st.batch(stream, step, 32) for step in range(4)), strict=True)  # windows 0..127: blocks 0, 1
        used[stream] = set(seeds)
        windows[stream] = {tuple(row) for row in torch.cat([torch.cat(x), torch.cat(y)[:, -1:]], 1).tolist()}
        assert len(used[stream]) == 2 and {s[0] for s in used[stream]} == {9}
        assert {s[2] for s in used[stream]} == {0, 1} and len(windows[stream]) == 128
    assert not used["teacher"] & used["student"] and not used["validation"] & (used["teacher"] | used["student"])
    assert not windows["teacher"] & windows["student"]
    assert not windows["validation"] & (windows["teacher"] | windows["student"])


def test_text_streams_read_only_their_own_part(tmp_path):
    """Text is cut into contiguous parts, validation last (10%) and the rest halved: bytes 0-449 teacher, 450-899
    student, 900-999 validation here; every window of a stream, over two epochs, lies inside its own part."""
    text = bytes([1] * 450 + [2] * 450 + [3] * 100)
    (tmp_path / "a.txt").write_bytes(text)
    st = TokenStreams(DataConfig(source="text", paths=(str(tmp_path),), context_length=32))
    for stream, byte, part in (("teacher", 1, 450), ("student", 2, 450), ("validation", 3, 100)):
        n_win = part - 32  # window starts in the part (windows of 33 bytes: inputs and the last target)
        x, y = st.batch(stream, 0, 2 * n_win)
        assert set(x.unique().tolist()) == set(y.unique().tolist()) == {byte}, stream
        assert st.epochs(stream, 2 * n_win) == 2.0


def test_text_streams_use_disjoint_parts(tmp_path):
    text = bytes(range(256)) * 40
    (tmp_path / "a.txt").write_bytes(text)
    st = TokenStreams(DataConfig(source="text", paths=(str(tmp_path),), context_length=32))
    parts = st.parts
    assert sum(len(p) for p in parts.values()) == len(text)
    assert len(parts["teacher"]) == len(parts["student"]) and len(parts["validation"]) == int(0.1 * len(text))
    x, y = st.batch("student", 0, 4)
    assert x.shape == (4, 32) and int(x.max()) < 256
    assert math.isnan(st.entropy_rate)


def test_builtin_text_ships_and_loads():
    files = list(builtin_text_path().glob("*.txt"))
    assert files and sum(f.stat().st_size for f in files) > 10_000
    st = TokenStreams(DataConfig(source="text", paths=("builtin",), context_length=64))
    x, _ = st.batch("teacher", 0, 2)
    assert int(x.max()) < 128 and int((x == ord(" ")).sum()) > 5  # ASCII prose with spaces
    assert st.cfg.model_vocab == 256


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"source": "web"}, "source"), ({"support": 0}, "support"), ({"vocab_size": 4, "support": 8}, "support"),
     ({"validation_fraction": 0.7}, "validation_fraction")],
)
def test_bad_data_config_names_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        DataConfig(**kwargs)


def test_missing_text_path_is_value_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        TokenStreams(DataConfig(source="text", paths=(str(tmp_path / "nope.txt"),)))
