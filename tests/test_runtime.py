"""Determinism: ``runtime.setup`` makes a kernel without a deterministic implementation stop the
job (not warn), and every model trains, and its Hessian is taken, under that mode: on the CPU,
and on CUDA too where a GPU is present (the check a GPU machine should run)."""

import subprocess
import sys

import pytest
import torch
from torch.nn import functional as F

from prunelimit.curvature.operator import HessianOperator
from prunelimit.models.registry import MODELS, build_model
from prunelimit.runtime import setup

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture
def deterministic():
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    yield setup(0, threads=1, device="cpu")
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def test_setup_makes_nondeterministic_kernels_raise(deterministic):
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()
    # put_ without accumulate has no deterministic implementation on any device
    with pytest.raises(RuntimeError, match="does not have a deterministic implementation"):
        torch.zeros(3).put_(torch.tensor([0]), torch.tensor([1.0]))


def run_fresh(code: str) -> None:
    """Run ``code`` in a fresh Python process (nothing imported yet); its asserts must hold."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_setup_is_quick_to_start_and_deterministic_in_a_fresh_process():
    """A job's start does not import TorchInductor (2 s) for the flag, and the flag is set;
    Inductor's own, where it was loaded before, follows."""
    code = (
        "import sys, torch\n"
        "from prunelimit.runtime import setup\n"
        "setup(0)\n"
        "assert torch.are_deterministic_algorithms_enabled()\n"
        "assert not torch.is_deterministic_algorithms_warn_only_enabled()\n"
        "assert 'torch._inductor.config' not in sys.modules\n"
        "import torch._inductor.config as c\n"
        "c.deterministic = False\n"
        "setup(0)\n"
        "assert c.deterministic\n"
    )
    run_fresh(code)


def test_a_training_job_imports_no_torchdynamo():
    """After setup, an optimizer's creation, steps, state dict and the CUDA guard run without
    TorchDynamo (1.3 s of a job's start): the wrappers torch.compile needs are cached as their
    functions. Fails when a new PyTorch wraps them otherwise (skip_dynamo_wrappers sets none)."""
    code = (
        "import sys, torch\n"
        "from prunelimit.runtime import setup, skip_dynamo_wrappers\n"
        "from prunelimit.guard.alerts import CudaGuard\n"
        "from prunelimit.training.loop import sgd_step\n"
        "assert skip_dynamo_wrappers() > 0\n"
        "setup(0)\n"
        "m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))\n"
        "opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)\n"
        "x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])\n"
        "with CudaGuard():\n"
        "    sgd_step(m, opt, x, y, l1=1e-4)\n"
        "opt.load_state_dict(opt.state_dict())\n"
        "assert 'torch._dynamo' not in sys.modules\n"
    )
    run_fresh(code)


def test_the_optimizer_step_without_its_wrappers_is_opt_step():
    """optimizer_step gives the bits of opt.step(): weights and momentum, with weight decay."""
    from prunelimit.training.optimizer import optimizer_step

    torch.manual_seed(0)
    nets = [torch.nn.Linear(5, 4) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    opts = [torch.optim.SGD(n.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4) for n in nets]
    x, y = torch.randn(8, 5), torch.randint(0, 4, (8,))
    start = nets[0].weight.detach().clone()
    for _ in range(4):
        for net, opt, step in zip(nets, opts, (lambda o: o.step(), optimizer_step), strict=True):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            step(opt)
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.equal(a, b) and a.grad is not None
        assert torch.equal(opts[0].state[a]["momentum_buffer"], opts[1].state[b]["momentum_buffer"])
    assert not torch.equal(nets[0].weight, start)  # the steps moved the weights


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_trains_and_takes_a_hessian_product_in_deterministic_mode(
    name, device, deterministic
):
    shape = (3, 8, 8) if name in ("alexnet", "vgg16", "resnet18", "resnet50") else (1, 40)
    model = build_model(name, shape, 10, seed=0).to(device)
    x, y = torch.randn(4, *shape, device=device), torch.arange(4, device=device)
    F.cross_entropy(model(x), y).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    op = HessianOperator(model, x, y, batch_size=2)
    hv = op.matvec(torch.ones(2, op.D, device=device))
    assert hv.shape == (2, op.D) and torch.isfinite(hv).all()


def test_tf32_is_on_for_the_training_steps_only_and_restored(monkeypatch):
    import prunelimit.training.loop as loop
    from conftest import toy_splits
    from prunelimit.config.settings import TrainSettings
    from prunelimit.runtime import training_precision

    seen = {}
    real_epoch, real_held = loop._train_epoch, loop._held_out

    def flags():
        return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32

    def epoch(*args, **kwargs):
        seen["step"] = flags()
        return real_epoch(*args, **kwargs)

    def held(*args, **kwargs):
        seen["eval"] = flags()
        return real_held(*args, **kwargs)

    monkeypatch.setattr(loop, "_train_epoch", epoch)
    monkeypatch.setattr(loop, "_held_out", held)
    setup(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3))
    s = TrainSettings(epochs=1, batch_size=32, precision="tf32_conv")
    loop.fit(model, toy_splits(64, (8,)), s, 0, log=lambda _: None)
    assert seen == {"step": (True, False), "eval": (False, False)}
    assert flags() == (False, False)  # restored after training
    with pytest.raises(RuntimeError), training_precision("tf32"):
        assert flags() == (True, True)
        raise RuntimeError("a failed step")
    assert flags() == (False, False)
    with pytest.raises(ValueError, match="precision must be one of"):
        with training_precision("bf16"):
            pass
