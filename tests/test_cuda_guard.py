"""The CUDA guard (``prunelimit.guard``): raises on the CPU wherever CUDA's deterministic mode
would, from the list derived from the installed PyTorch's binaries; quiet on the pipeline's
ordinary operators, forward and backward."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from prunelimit.guard.alerts import CONDITIONS, DATA, ENV, CudaGuard, activate_from_env
from prunelimit.runtime import setup

LISTED = json.loads(DATA.read_text())


def _raises(fn, match: str = "prunelimit's CUDA guard"):
    with pytest.raises(RuntimeError, match=match), CudaGuard():
        fn()


def test_median_with_indices_raises_without_indices_passes():
    x = torch.randn(5, 3)
    _raises(lambda: torch.median(x, dim=0), "median CUDA with indices output")
    _raises(lambda: torch.nanmedian(x, 1))  # the same CUDA kernel (its callers, in the file)
    with CudaGuard():
        torch.median(x)
        torch.nanmedian(x)


def test_the_message_names_the_operator_the_caller_and_the_list():
    with pytest.raises(RuntimeError) as err, CudaGuard():
        torch.median(torch.randn(4, 2), dim=0)
    text = str(err.value)
    assert "aten.median.dim" in text and "median CUDA with indices output" in text
    assert "alerts.json" in text and LISTED["torch"] in text and "libtorch_cuda.so" in text


def test_backward_operators_are_seen():
    assert "_adaptive_avg_pool2d_backward" in LISTED["ops"]
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    with CudaGuard():
        out = F.adaptive_avg_pool2d(x, (2, 2))  # the forward has a deterministic kernel
        F.adaptive_avg_pool2d(x, (1, 1)).sum().backward()  # (1, 1) is a mean on CUDA too
        with pytest.raises(RuntimeError, match="adaptive_avg_pool2d_backward_cuda"):
            out.sum().backward()


def test_operators_inside_torch_func_transforms_are_seen():
    x = torch.randn(3, 4)
    _raises(lambda: torch.func.vmap(lambda v: torch.median(v, dim=0).values)(x))


def test_conditions_decide_like_pytorchs_cuda_code():
    logits, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    idx, src = torch.tensor([0, 0, 1]), torch.ones(3)
    with CudaGuard():  # none of these alerts on CUDA
        F.cross_entropy(logits, target, reduction="none")
        F.cross_entropy(logits[:, :, 0, 0], target[:, 0, 0])  # (N, C): nll_loss, not 2d
        torch.zeros(2).scatter_reduce(0, idx, src, "sum")
        torch.zeros(2).scatter_(0, idx, src)  # through index_put_ in deterministic mode
        torch.bincount(idx)
    _raises(lambda: F.cross_entropy(logits, target), "nll_loss2d_forward_out_cuda_template")
    _raises(lambda: torch.zeros(2).scatter_reduce(0, idx, src, "prod"), "prod")
    _raises(lambda: torch.zeros(2).scatter_(0, idx[:, None], src[:, None], reduce="multiply"))
    _raises(lambda: torch.bincount(idx, weights=src), "_bincount_cuda")
    _raises(lambda: torch.histc(src, bins=3), "floating point input")
    _raises(lambda: torch.zeros(3).put_(idx, src, accumulate=True), "put_")


@pytest.mark.parametrize("name", ["alexnet", "resnet18"])
def test_ordinary_training_and_hessian_products_pass(name):
    from conftest import toy_splits
    from prunelimit.config.settings import TrainSettings
    from prunelimit.curvature.operator import HessianOperator
    from prunelimit.models.registry import build_model
    from prunelimit.pruning import global_magnitude_masks, prunable_weights
    from prunelimit.training.loop import fit

    data = toy_splits(8, (3, 8, 8))
    data.train.augmentable = True
    model = build_model(name, (3, 8, 8), 3, seed=0)
    weights = {k: w.detach() for k, w in prunable_weights(model).items()}
    masks = global_magnitude_masks(weights, sum(w.numel() for w in weights.values()) // 2)
    s = TrainSettings(epochs=1, batch_size=4, l1=1e-4, augment=True)
    with CudaGuard():
        fit(model, data, s, 0, masks=masks, log=lambda _: None)
        op = HessianOperator(model, *data.train.get(torch.arange(4)), batch_size=2)
        assert torch.isfinite(op.matvec(torch.ones(2, op.D))).all()


def test_the_list_names_aten_operators_and_known_conditions():
    from prunelimit.guard.derive import aten_names

    names = aten_names()
    assert LISTED["ops"] and set(LISTED["ops"]) <= names
    assert all(a["condition"] in (None, *CONDITIONS) for a in LISTED["alerts"])
    assert {a["caller"] for a in LISTED["alerts"]} >= {
        "adaptive_avg_pool2d_backward_cuda",
        "median CUDA with indices output",
        "nll_loss2d_forward_out_cuda_template",
        "_histc_cuda with floating point input",
    }
    assert "kthvalue" not in LISTED["ops"]  # CUDA kthvalue stopped alerting in 2.14


def test_normalisation_of_caller_strings():
    from prunelimit.guard.derive import map_caller, normalise

    assert normalise("adaptive_avg_pool2d_backward_out_cuda") == "adaptive_avg_pool2d_backward"
    assert normalise("nll_loss2d_forward_out_cuda_template") == "nll_loss2d_forward"
    assert normalise("scatter_cuda_") == "scatter" and normalise("put_") == "put"
    assert normalise("ctc_loss_backward_gpu") == "ctc_loss_backward"
    assert map_caller("adaptive_avg_pool2d_backward_cuda", {"_adaptive_avg_pool2d_backward"})[
        0
    ] == ["_adaptive_avg_pool2d_backward"]
    assert map_caller("no_such_kernel_cuda", {"put"})[0] == []


def _sha256(path: Path) -> str:  # independent of guard.binary's
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def test_the_list_was_derived_from_the_installed_torch():
    """A moved pin fails here until ``python -m prunelimit.guard.derive`` is rerun."""
    assert LISTED["torch"] == torch.__version__
    site = Path(torch.__file__).parent.parent
    for lib in LISTED["libraries"]:
        path = site / lib["file"]
        assert path.stat().st_size == lib["bytes"], f"{path} changed: rerun the derivation"
        assert _sha256(path) == lib["sha256"], f"{path} changed: rerun the derivation"


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("objdump"), reason="binutils (objdump) not installed")
def test_the_committed_list_is_what_the_derivation_gives():
    from prunelimit.guard.derive import derive, same

    assert same(derive(log=lambda _: None), LISTED), "rerun python -m prunelimit.guard.derive"


def test_setup_turns_the_guard_on_from_the_environment(monkeypatch):
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    monkeypatch.setenv(ENV, "0")
    setup(0, threads=1, device="cpu")
    torch.median(torch.randn(3, 2), dim=0)  # off
    monkeypatch.setenv(ENV, "yes")
    with pytest.raises(ValueError, match=ENV):
        setup(0, threads=1, device="cpu")
    monkeypatch.setenv(ENV, "1")
    setup(0, threads=1, device="cpu")
    guard = activate_from_env()
    try:
        assert activate_from_env() is guard  # entered once per process
        with pytest.raises(RuntimeError, match="median CUDA with indices output"):
            torch.median(torch.randn(3, 2), dim=0)
    finally:
        guard.__exit__(None, None, None)
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
    torch.median(torch.randn(3, 2), dim=0)
