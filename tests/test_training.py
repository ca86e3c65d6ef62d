import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from prunelimit.config.settings import ExperimentSettings, TrainSettings
from prunelimit.experiment.runs import train_experiment
from prunelimit.io import load_torch
from prunelimit.training.convergence import plateau
from prunelimit.training.loop import TrainingDiverged, fit, lr_at_epoch

E = ExperimentSettings.from_dict
EXP = {
    "name": "tiny",
    "dataset": "mnist1d",
    "model": "mlp",
    "model_args": {"widths": [64, 32]},
    "train": {
        "epochs": 6,
        "batch_size": 128,
        "lr": 0.05,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "l1": 1e-4,
        "schedule": "none",
        "warmup_epochs": 0,
    },
}


def test_schedules_step_per_epoch():
    s = TrainSettings(
        epochs=10, lr=1.0, schedule="multistep", milestones=(3, 6), gamma=0.5, warmup_epochs=2
    )
    assert [lr_at_epoch(s, e) for e in range(8)] == [0.5, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    c = TrainSettings(epochs=5, lr=1.0, schedule="cosine")
    assert lr_at_epoch(c, 0) == 1.0 and math.isclose(lr_at_epoch(c, 5), 0.0, abs_tol=1e-12)
    assert lr_at_epoch(c, 1) > lr_at_epoch(c, 2) > lr_at_epoch(c, 3)
    with pytest.raises(ValueError, match="schedule"):
        TrainSettings(epochs=1, schedule="linear")


def test_plateau():
    assert plateau([1.0] * 20, 10, 0.01) == (True, 0.0)
    conv, rel = plateau([2.0] * 10 + [1.0] * 10, 10, 0.01)
    assert not conv and math.isclose(rel, 0.5)
    assert not plateau([1.0] * 5, 10, 0.01)[0]
    # a tiny loss still halving is a plateau in absolute terms only
    assert plateau([2e-4] * 10 + [1e-4] * 10, 10, 0.01) == (True, 0.5)
    assert not plateau([2e-4] * 10 + [1e-4] * 10, 10, 0.01, atol=0.0)[0]
    conv, rel = plateau([1.0] * 10 + [1.5] * 10, 10, 0.01)  # a rise is no plateau either
    assert not conv and math.isclose(rel, -0.5)


def test_same_seed_same_weights_and_l1_shrinks(mnist1d, tmp_path):
    dev = torch.device("cpu")
    runs = {}
    for tag, kind, seed in [("a", "l1", 0), ("b", "l1", 0), ("c", "l1", 1), ("d", "dense", 0)]:
        m = train_experiment(
            E(EXP), kind, seed, mnist1d, dev, tmp_path / f"{tag}.pt", tmp_path / f"{tag}.json"
        )
        runs[tag] = (load_torch(tmp_path / f"{tag}.pt"), m)
    a, b, c, d = (runs[k][0] for k in "abcd")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    l1 = sum(v.abs().sum() for k, v in a.items())
    dense = sum(v.abs().sum() for k, v in d.items())
    assert l1 < dense  # the l1 penalty shrinks the weights
    metrics = runs["a"][1]
    assert len(metrics["history"]["train_loss"]) == 6 and metrics["D"] == 40 * 64 + 64 * 32 + 320
    assert metrics["history"]["train_loss"][-1] < metrics["history"]["train_loss"][0]


def test_divergence_fails_clearly_without_outputs(mnist1d, tmp_path):
    exp = {**EXP, "train": {**EXP["train"], "lr": 1e6}}
    with pytest.raises(TrainingDiverged, match="diverged in epoch 1"):
        train_experiment(
            E(exp), "dense", 0, mnist1d, torch.device("cpu"), tmp_path / "m.pt", tmp_path / "m.json"
        )
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "m.json").exists()


RESUME_SCRIPT = """
import sys, torch
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import train_experiment
from prunelimit.runtime import setup
from prunelimit.config.settings import ExperimentSettings

exp = ExperimentSettings.from_dict({exp!r})
dev = setup(0, threads=1, device="cpu")
train_experiment(exp, "l1", 0, load_dataset({data!r}), dev, sys.argv[1], sys.argv[2],
                 checkpoint=sys.argv[3])
"""


@pytest.mark.slow
def test_interrupted_training_resumes_to_identical_weights(mnist1d_path, tmp_path):
    exp = {**EXP, "train": {**EXP["train"], "epochs": 40}}
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT.format(exp=exp, data=str(mnist1d_path)))

    def run(tag, kill=False):
        args = [
            sys.executable,
            str(script),
            str(tmp_path / f"{tag}.pt"),
            str(tmp_path / f"{tag}.json"),
            str(tmp_path / f"{tag}.ckpt"),
        ]
        if not kill:
            subprocess.run(args, check=True, timeout=300, capture_output=True)
            return
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while not (tmp_path / f"{tag}.ckpt").exists() and time.time() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    run("clean")
    run("resumed", kill=True)
    ckpt = load_torch(tmp_path / "resumed.ckpt")
    assert 1 <= ckpt["epoch"] < 40  # really interrupted mid-run
    assert not (tmp_path / "resumed.pt").exists()
    run("resumed")
    clean, resumed = load_torch(tmp_path / "clean.pt"), load_torch(tmp_path / "resumed.pt")
    assert all(torch.equal(clean[k], resumed[k]) for k in clean)
    assert not (tmp_path / "resumed.ckpt").exists()


def test_checkpoint_of_another_network_is_ignored(mnist1d, tmp_path):
    """A checkpoint left by a network of other shapes (same settings and seed) is not loaded:
    the run starts afresh and ends with the weights of a run without a checkpoint."""
    from prunelimit.models.networks import MLP
    from prunelimit.training.loop import fit

    s = TrainSettings(epochs=2, lr=0.05)
    ckpt = tmp_path / "run.ckpt"

    def run(widths, checkpoint):
        torch.manual_seed(0)
        model = MLP((40,), 10, widths)
        messages = []
        fit(model, mnist1d, s, seed=0, checkpoint=checkpoint, log=messages.append)
        return model.state_dict(), messages

    run([64, 32], ckpt)  # leaves its checkpoint (fit does not remove it)
    assert ckpt.exists()
    other, messages = run([48], ckpt)
    assert any("ignoring checkpoint" in m for m in messages)
    fresh, _ = run([48], None)
    assert all(torch.equal(other[k], fresh[k]) for k in fresh)


@pytest.mark.parametrize(("every", "saved_epoch"), [(0.0, 2), (3600.0, None)])
def test_checkpoints_at_most_every_interval_and_never_after_the_last_epoch(
    mnist1d, tmp_path, every, saved_epoch
):
    """Interval 0: a checkpoint after every epoch but the last (epoch 2 of 3 is left); an
    interval longer than the run: none at all. The weights do not depend on it."""
    from prunelimit.models.networks import MLP
    from prunelimit.training.loop import fit

    s = TrainSettings(epochs=3, lr=0.05)
    ckpt = tmp_path / "run.ckpt"
    torch.manual_seed(0)
    model = MLP((40,), 10, [32])
    fit(model, mnist1d, s, seed=0, checkpoint=ckpt, log=lambda _m: None, checkpoint_every_s=every)
    if saved_epoch is None:
        assert not ckpt.exists()
    else:
        assert load_torch(ckpt)["epoch"] == saved_epoch
    torch.manual_seed(0)
    plain = MLP((40,), 10, [32])
    fit(plain, mnist1d, s, seed=0, log=lambda _m: None)
    assert all(torch.equal(plain.state_dict()[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("value", ["abc", "-1", "nan", ""])
def test_a_bad_checkpoint_interval_names_the_variable(value):
    from prunelimit.training.loop import _checkpoint_interval

    with pytest.raises(ValueError, match="PRUNELIMIT_CHECKPOINT_EVERY_S"):
        _checkpoint_interval(value)
    assert _checkpoint_interval("0") == 0.0 and _checkpoint_interval("90") == 90.0


def test_epoch_sums_on_the_device_give_the_host_loop_bit_for_bit(mnist1d):
    """fit's device-side epoch sums equal the per-step ``.item()`` accumulation they replace:
    the same history (to the bit) and the same weights."""
    from prunelimit.config.kinds import train_settings
    from prunelimit.experiment.runs import new_model
    from prunelimit.runtime import generator
    from prunelimit.training.loop import fit, sgd_step
    from prunelimit.training.optimizer import sgd

    s = train_settings(E(EXP), "l1")
    model = new_model(E(EXP), mnist1d, seed=0)
    history = fit(model, mnist1d, s, seed=0, evaluate_epochs=False)
    ref = new_model(E(EXP), mnist1d, seed=0)
    opt, gen, params = sgd(ref, s), generator(0), dict(ref.named_parameters())
    for epoch in range(s.epochs):  # the loop before the change: three host reads per step
        loss_sum, obj_sum, correct, n = 0.0, 0.0, 0, 0
        for x, y in mnist1d.train.batches(s.batch_size, gen, augment=s.augment):
            logits, loss, objective = sgd_step(ref, opt, x, y, s.l1, None, params)
            loss_sum += loss.item() * len(y)
            obj_sum += objective.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
        assert history["train_loss"][epoch] == loss_sum / n
        assert history["train_objective"][epoch] == obj_sum / n
        assert history["train_acc"][epoch] == correct / n
    for a, b in zip(model.state_dict().values(), ref.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_rising_loss_is_called_diverged_not_still_falling(mnist1d):
    from prunelimit.experiment.runs import new_model
    from prunelimit.training.convergence import divergence, training_summary

    s = TrainSettings(epochs=3, plateau_window=1)
    model = new_model(E(EXP), mnist1d, seed=0)
    hist = {
        "train_loss": [2.5, 30.0, 8.8e14],
        "train_objective": [2.5, 30.0, 8.8e14],
        "samples_per_s": [1.0] * 3,
    }
    out = training_summary(hist, s, mnist1d, model)
    assert out["divergence"]["diverged"] and not out["converged"]
    assert out["verdict"].startswith("DIVERGED") and "lower the learning rate" in out["verdict"]
    # the threshold is 10 x min(first epoch's loss, ln 10): 23.0 here
    assert out["divergence"]["threshold"] == pytest.approx(10 * math.log(10))
    assert not divergence([2.5, 3.0, 20.0], 10)["diverged"]
    assert divergence([2.5, 3.0, 24.0], 10)["diverged"]
    assert divergence([1e14, 9e13], 10)["diverged"]  # blown up within the first epoch
    assert divergence([2.0, math.nan], 10)["diverged"]
    rising = {**hist, "train_loss": [2.3, 2.0, 2.2, 2.4], "train_objective": [2.3] * 4}
    out = training_summary(rising, TrainSettings(epochs=4, plateau_window=2), mnist1d, model)
    assert not out["divergence"]["diverged"] and out["verdict"] == "NOT converged (loss rising)"


def test_the_l2_kind_trains_with_its_weight_decay_and_no_l1(mnist1d):
    """The l2 run is the ``train`` block with l1 = 0 and ``l2_train``'s weight decay: one epoch
    of fit equals SGD with momentum written out by hand on grad(cross-entropy) + wd * w."""
    from prunelimit.config.kinds import train_settings, trained_kinds
    from prunelimit.experiment.runs import new_model
    from prunelimit.runtime import generator

    exp = {**EXP, "train": {**EXP["train"], "epochs": 1}, "l2_train": {"weight_decay": 0.05}}
    assert trained_kinds(E(exp)) == ["dense", "l1", "l2"]
    assert trained_kinds(E(EXP)) == ["dense", "l1"]
    s = train_settings(E(exp), "l2")
    assert (s.weight_decay, s.l1, s.lr) == (0.05, 0.0, EXP["train"]["lr"])
    assert train_settings(E(exp), "l1").weight_decay == 0.0  # the other kinds keep `train`'s
    with pytest.raises(ValueError, match="l2_train.weight_decay"):
        train_settings(E(EXP), "l2")
    model = new_model(E(exp), mnist1d, seed=0)
    fit(model, mnist1d, s, seed=0, evaluate_epochs=False)
    ref, gen = new_model(E(exp), mnist1d, seed=0), generator(0)
    buffers = {n: None for n, _ in ref.named_parameters()}
    for x, y in mnist1d.train.batches(s.batch_size, gen, augment=s.augment):
        ref.zero_grad()
        torch.nn.functional.cross_entropy(ref(x), y).backward()
        with torch.no_grad():
            for n, p in ref.named_parameters():
                g = p.grad + 0.05 * p
                buf = g if buffers[n] is None else s.momentum * buffers[n] + g
                buffers[n] = buf
                p -= s.lr * buf
    for (n, a), b in zip(model.state_dict().items(), ref.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), n


def test_a_run_that_collapses_to_chance_after_learning_is_collapsed_not_converged(mnist1d):
    """FC12 on MNIST-1D, seed 0: 88 % halfway, loss 4.4 three epochs later, then ln 10 and
    chance accuracy to the end. Collapsed, never converged; a run that never learned is not."""
    from prunelimit.experiment.runs import new_model
    from prunelimit.training.convergence import collapse, training_summary

    ln10 = math.log(10)
    hist = {
        "train_loss": [2.0, 1.1, 0.6, 0.4, 1.5, 4.4, ln10, ln10, ln10, ln10],
        "train_acc": [0.3, 0.6, 0.8, 0.88, 0.5, 0.12, 0.1, 0.1, 0.1, 0.1],
        "samples_per_s": [1.0] * 10,
    }
    hist["train_objective"] = hist["train_loss"]
    model = new_model(E(EXP), mnist1d, seed=0)
    s = TrainSettings(epochs=10, plateau_window=2)
    out = training_summary(hist, s, mnist1d, model)  # the loss has plateaued at ln 10
    assert out["collapse"]["collapsed"] and not out["converged"]
    assert (out["collapse"]["best_acc"], out["collapse"]["best_epoch"]) == (0.88, 4)
    assert out["verdict"].startswith("COLLAPSED (training accuracy 0.88 at epoch 4, 0.1 at")
    assert "lower the learning rate or the l1 strength" in out["verdict"]
    learned = {**hist, "train_loss": [2.0, 1.1, 0.6, 0.4] + [0.1] * 6}
    learned["train_acc"] = [0.3, 0.6, 0.8, 0.88] + [0.98] * 6
    out = training_summary({**learned, "train_objective": learned["train_loss"]}, s, mnist1d, model)
    assert not out["collapse"]["collapsed"] and out["verdict"] == "converged"
    assert not collapse([ln10] * 10, [0.1] * 10, 10)["collapsed"]  # never learned
    assert not collapse([0.4, 1.0], [0.88, 0.6], 10)["collapsed"]  # worse, not at chance
    assert collapse([0.4, 2.5], [0.88, 0.35], 10)["collapsed"]  # worse than a uniform guess
    assert not collapse([0.3, 0.69], [0.8, 0.56], 2)["collapsed"]  # binary: chance 0.5
    assert collapse([0.3, 0.7], [0.9, 0.54], 2)["collapsed"]  # <= 0.55, loss >= ln 2
    assert not collapse([], [], 10)["collapsed"]


def _autograd_l1_step(model, opt, x, y, l1=0.0, masks=None, params=None):
    """The step before the fused l1 update: the l1 term through autograd, bool masks."""
    from torch.nn import functional as F

    from prunelimit.pruning import apply_masks
    from prunelimit.training.loop import l1_norm

    logits = model(x)
    loss = F.cross_entropy(logits, y)
    objective = loss + l1 * l1_norm(model) if l1 > 0 else loss
    opt.zero_grad(set_to_none=True)
    objective.backward()
    if masks is not None:
        params = params if params is not None else dict(model.named_parameters())
        for name, m in masks.items():
            params[name].grad.mul_(m.bool())
    opt.step()
    if masks is not None:
        apply_masks(model, {k: m.bool() for k, m in masks.items()})
    return logits, loss, objective


def test_the_fused_l1_step_trains_bit_identically_to_autograd(monkeypatch):
    import prunelimit.training.loop as loop
    from conftest import toy_splits
    from prunelimit.models.networks import MLP
    from prunelimit.pruning import prunable_weights

    data = toy_splits(128, (8,))
    s = TrainSettings(epochs=3, batch_size=32, lr=0.1, l1=3e-3, weight_decay=1e-4)

    def run(step):
        monkeypatch.setattr(loop, "sgd_step", step)
        torch.manual_seed(0)
        model = MLP([8], 3, [16, 16])
        masks = {n: torch.rand_like(w) > 0.3 for n, w in prunable_weights(model).items()}
        history = loop.fit(model, data, s, 0, masks=masks, log=lambda _: None)
        return history, model.state_dict()

    fused_history, fused = run(loop.sgd_step)
    old_history, old = run(_autograd_l1_step)
    assert fused_history["train_objective"] == old_history["train_objective"]
    assert fused_history["train_loss"] == old_history["train_loss"]
    assert all(torch.equal(fused[k], old[k]) for k in old)
