"""The training loop: schedules, the distillation loss, determinism, WSD branches, failures, checkpoints."""

import math

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from bayes_distill.runner.data import DataConfig
from bayes_distill.runner.model import ModelConfig, Transformer
from bayes_distill.runner.train import (
    StudentLoss,
    TrainConfig,
    TrainingError,
    kd_loss,
    kd_targets,
    load_checkpoint,
    lr_at,
    run_job,
    save_checkpoint,
)


def test_cosine_schedule_warmup_peak_floor():
    cfg = TrainConfig(lr=1e-2, warmup_frac=0.1, min_lr_ratio=1e-3)
    lrs = [lr_at(s, 100, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[9] == pytest.approx(1e-2)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))
    assert lrs[-1] == pytest.approx(1e-5, rel=0.01)


def test_wsd_schedule_stable_then_linear_cooldown():
    cfg = TrainConfig(lr=1e-2, warmup_frac=0.1, min_lr_ratio=0.0, schedule="wsd")
    assert lr_at(50, 100, cfg) == pytest.approx(1e-2)
    assert lr_at(79, 100, cfg, cooldown_start=80) == pytest.approx(1e-2)
    assert lr_at(89, 100, cfg, cooldown_start=80) == pytest.approx(5e-3)
    assert lr_at(99, 100, cfg, cooldown_start=80) == pytest.approx(0.0)


def test_kd_loss_is_cross_entropy_to_teacher():
    torch.manual_seed(0)
    s, t = torch.randn(4, 7, 11), torch.randn(4, 7, 11)
    p = F.softmax(t, -1)
    h_t = -(p * F.log_softmax(t, -1)).sum(-1).mean()
    kl = (p * (F.log_softmax(t, -1) - F.log_softmax(s, -1))).sum(-1).mean()
    assert kd_loss(s, t, 1.0, 0).item() == pytest.approx((h_t + kl).item(), rel=1e-5)
    assert kd_loss(t, t, 1.0, 0).item() == pytest.approx(h_t.item(), rel=1e-5)  # minimum at student = teacher
    # top-k = vocabulary is the full loss; top-1 is the cross-entropy to the teacher's argmax
    assert kd_loss(s, t, 2.0, 11).item() == pytest.approx(kd_loss(s, t, 2.0, 0).item(), rel=1e-5)
    ce_argmax = F.cross_entropy(s.flatten(0, 1), t.argmax(-1).flatten())
    assert kd_loss(s, t, 1.0, 1).item() == pytest.approx(ce_argmax.item(), rel=1e-5)


@pytest.mark.parametrize(("lam", "tau", "top_k", "z"), [(0.0, 1.0, 0, 1e-4), (1.0, 1.0, 0, 1e-4),
                                                     (0.3, 2.0, 0, 1e-3), (0.5, 1.0, 3, 0.0), (1.0, 0.5, 4, 1e-2)])
def test_fused_student_loss_matches_autograd_of_plain_terms(lam, tau, top_k, z):
    torch.manual_seed(0)
    logits, teacher, y = torch.randn(50, 11, requires_grad=True), torch.randn(50, 11), torch.randint(0, 11, (50,))
    supervised = lam == 0.0
    p = None if supervised else kd_targets(teacher, tau, top_k)
    w_ce, w_kd = (1.0, 0.0) if supervised else (1.0 - lam, lam * tau**2)
    loss, ce = StudentLoss.apply(logits, y, p, w_ce, w_kd, tau, z)
    (grad,) = torch.autograd.grad(1.7 * loss, logits)
    ref_ce = F.cross_entropy(logits, y)
    ref = z * torch.logsumexp(logits, -1).pow(2).mean()
    ref = ref + (ref_ce if supervised else (1 - lam) * ref_ce + lam * tau**2 * kd_loss(logits, teacher, tau, top_k))
    (ref_grad,) = torch.autograd.grad(1.7 * ref, logits)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5) and ce.item() == pytest.approx(ref_ce.item(), rel=1e-6)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-7)


def _job(tmp_path, **train):
    data = DataConfig(vocab_size=16, order=2, support=3, context_length=16).to_dict()
    model = ModelConfig(n_layers=1, vocab_size=16, context_length=16).to_dict()
    t = {**TrainConfig(batch_size=8, eval_batches=2, lr=1e-2).__dict__, **train}
    return {"id": "job", "role": "supervised", "stream": "teacher", "model": model, "data": data, "train": t,
            "distill": None, "teacher": None, "budgets": [16384.0], "row_ids": ["r0"], "save_checkpoint": True}


def test_cpu_run_repeats_exactly_and_learns(tmp_path):
    job = _job(tmp_path)
    a = run_job(job, tmp_path / "a", threads=1)
    b = run_job(job, tmp_path / "b", threads=1)
    assert a[0]["loss"] == b[0]["loss"]
    assert a[0]["loss"] < math.log(16) - 0.3  # below the uniform guess
    assert a[0]["loss"] > a[0]["entropy_rate"]
    assert a[0]["D"] == 16384.0 and a[0]["steps"] == 128
    ckpt = tmp_path / "a" / "checkpoints" / "r0.safetensors"
    assert ckpt.exists()


def test_distilled_job_reports_teacher_metrics(tmp_path):
    teacher = _job(tmp_path)
    teacher_row = run_job(teacher, tmp_path, threads=1)[0]
    student = {**_job(tmp_path), "id": "s", "row_ids": ["s0"], "stream": "student", "save_checkpoint": False,
               "distill": {"lam": 1.0, "tau": 1.0, "top_k": 0}, "teacher": {"run": "r0", "N": 1.0, "D": 1.0}}
    row = run_job(student, tmp_path, threads=1)[0]
    # the teacher reloaded from its checkpoint scores the same validation windows as when it was trained
    assert row["teacher_loss"] == teacher_row["loss"]
    assert math.isnan(teacher_row["teacher_loss"])
    # a distillation step costs one teacher forward per token more than a supervised one
    assert row["flops_formula"] == pytest.approx(4 * row["flops_per_token_formula"] * row["D"])


def test_wsd_one_run_gives_several_budgets(tmp_path):
    job = {**_job(tmp_path, schedule="wsd", cooldown_frac=0.25), "budgets": [8192.0, 16384.0],
           "row_ids": ["w0", "w1"]}
    rows = run_job(job, tmp_path, threads=1)
    assert [r["D"] for r in rows] == [8192.0, 16384.0]
    assert rows[1]["loss"] < rows[0]["loss"]
    assert {r["group"] for r in rows} == {"job"}
    assert all(math.isfinite(r["loss"]) for r in rows)


def test_divergence_raises(tmp_path):
    job = _job(tmp_path, lr=1e4, grad_clip=0.0, z_loss=0.0, diverge_factor=1.0)
    with pytest.raises(TrainingError):
        run_job(job, tmp_path, threads=1)


def test_checkpoint_roundtrip_is_safetensors(tmp_path):
    model = Transformer(ModelConfig(n_layers=1, vocab_size=10, context_length=8))
    path = tmp_path / "m.safetensors"
    save_checkpoint(model, path, {"run": "x"})
    assert path.read_bytes()[8:9] == b"{"  # safetensors header (JSON), not a pickle
    loaded = load_checkpoint(path, torch.device("cpu"))
    x = torch.randint(0, 10, (1, 8))
    torch.testing.assert_close(loaded(x), model.eval()(x))
    assert not list(tmp_path.glob("*.tmp*"))


def test_background_prefetch_changes_nothing(tmp_path, monkeypatch):
    import bayes_distill.runner.train as train

    job = {**_job(tmp_path, schedule="wsd"), "budgets": [8192.0, 16384.0], "row_ids": ["w0", "w1"]}
    inline = [r["loss"] for r in run_job(job, tmp_path / "a", threads=1)]
    monkeypatch.setattr(train, "PREFETCH_DEVICES", ("cpu", "cuda"))
    prefetched = [r["loss"] for r in run_job(job, tmp_path / "b", threads=1)]
    assert prefetched == inline
