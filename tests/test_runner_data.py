"""Token sources: exact entropy rate of the Markov source, disjoint and reproducible streams, byte text."""

import math

import numpy as np
import pytest

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


def test_window_floor_above_entropy_rate_and_converges():
    src = MarkovSource(DataConfig(vocab_size=16, order=3, support=4, seed=1))
    f8, f512 = src.window_floor(8), src.window_floor(512)
    assert f8 > f512 > src.entropy_rate
    assert f512 - src.entropy_rate < 0.02


def test_streams_reproducible_and_disjoint():
    st = TokenStreams(DataConfig(vocab_size=32, order=2, support=4, context_length=16))
    x1, y1 = st.batch("teacher", 5, 8)
    x2, y2 = TokenStreams(st.cfg).batch("teacher", 5, 8)
    assert x1.shape == (8, 16) and bool((x1 == x2).all()) and bool((y1[:, :-1] == x1[:, 1:]).all())
    xs, _ = st.batch("student", 5, 8)
    xv, _ = st.batch("validation", 5, 8)
    assert not bool((x1 == xs).all()) and not bool((x1 == xv).all())
    # batch b of size 8 equals windows 8b..8b+7 whatever the batch size
    x4, _ = st.batch("teacher", 11, 4)
    assert bool((x4 == x1[4:]).all())


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
