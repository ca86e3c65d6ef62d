"""Peak memory, the linear cost fit and ``hessian.batch_size: auto``."""

import dataclasses
import json
import os

import numpy as np
import pytest
import torch

from prunelimit.bench.memory import train_step_measure
from prunelimit.config.settings import HessianSettings
from prunelimit.curvature.memory import (
    GB,
    NOISE,
    LinearCost,
    auto_chunk,
    fit_chunk,
    hvp_measure,
    per_sample_cost,
    plan_chunk,
)
from prunelimit.curvature.peak import peak_memory
from prunelimit.data import DatasetSplits, Split
from prunelimit.limit.prediction import spectrum_of
from prunelimit.models.registry import build_model


def test_the_fit_recovers_a_known_linear_cost():
    calls = []

    def fake(n: int) -> int:
        calls.append(n)
        return 1_000_000 + 3_000 * n

    cost = per_sample_cost(fake, (2, 4, 8))
    assert calls == [2, 2, 4, 8]  # a warm-up at the smallest size, then the sizes
    assert cost.fixed == pytest.approx(1e6) and cost.per_sample == pytest.approx(3e3)
    assert cost.largest(1e6 + 3e3 * 10.5, 100) == 10 and cost.largest(1e6 + 3e3 * 10, 5) == 5
    assert cost.largest(5e5, 100) == 0
    calls.clear()
    grown = per_sample_cost(fake, (2, 4, 8), max_size=100_000)  # 3 kB/sample: unresolved at 2..8
    assert grown.sizes == (8192, 16384, 32768)  # the first sizes whose peaks differ by 64 MiB
    assert calls[:4] == [2, 2, 4, 8] and grown.per_sample == pytest.approx(3e3)


def test_sizes_stop_growing_where_the_steepest_line_fits_every_sample():
    """Peaks 3 kB apart (within the CPU's noise) at 1 and 2 samples: the slope is unresolved,
    but each peak is off by at most NOISE, so 29 samples take at most the larger peak plus
    NOISE plus 29 x (3 kB + 2 NOISE), ~1.1 GB: they fit 1.5 GB and the sizes stay; under 1 GB
    they might not, and the sizes grow as before."""
    calls = []

    def fake(n: int) -> int:
        calls.append(n)
        return 100_000_000 + 3_000 * n

    line = per_sample_cost(fake, (1, 2), max_size=29, available=1.5e9)
    assert calls == [1, 1, 2] and line.bound and line.sizes == (1, 2)
    assert line.per_sample == 3_000 + 2 * NOISE and line.fixed == fake(2) + NOISE
    assert line.largest(1.5e9, 29) == 29  # the plan takes every sample
    assert all(line.at(n) >= fake(n) for n in range(2, 30))  # above the true cost
    calls.clear()
    grown = per_sample_cost(fake, (1, 2), max_size=29, available=1e9)
    assert calls == [1, 1, 2, 4, 4, 8] and not grown.bound and grown.sizes == (4, 8)
    calls.clear()
    per_sample_cost(fake, (1, 2), max_size=29)  # no budget given: grows
    assert calls == [1, 1, 2, 4, 4, 8]


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_peak_memory_of_a_known_allocation_is_its_size():
    n = 50_000_000  # 200 MB of float32
    peak_memory(lambda: torch.ones(n).sum().item(), "cpu")  # one-time allocations
    out, peak = peak_memory(lambda: torch.ones(n).sum().item(), "cpu")
    assert out == n and abs(peak - 4 * n) < 0.05 * 4 * n
    _, none = peak_memory(lambda: 0, "cpu")
    assert none < 0.05 * 4 * n


def test_a_training_step_costs_gradients_momentum_and_activations():
    """The measured peak of one SGD step covers what must coexist in it, and not the process.

    Bounds, not a fit: the peak is the larger of the forward's saved activations (which grow
    with the batch) and the step's gradients beside momentum (which do not), so a line through
    peaks at a few sizes has an intercept anywhere between 0 and the parameters' size, and the
    CPU's resident high-water mark scatters by tens of MB (CI once read 105 MB where this
    machine reads 42 MB at 1,024 samples). The smallest of three readings per size is taken."""
    widths = [2048, 2048]
    model = build_model("mlp", (1, 40), 10, seed=0, widths=widths)
    measure = train_step_measure(model, (1, 40), 10)
    params = sum(p.numel() * 4 for p in model.parameters())
    measure(1024)  # one-time allocations (thread pools, workspaces)
    for n in (1024, 4096):
        peak = min(measure(n) for _ in range(3))
        saved = n * sum(widths) * 4  # the ReLU outputs autograd keeps for the backward, float32
        # gradients and momentum buffers exist together in the optimizer's step; the saved
        # activations together at the end of the forward
        assert peak >= max(2 * params, saved), (n, peak)
        # at most: gradients, momentum, every activation with its pre-activation and gradient,
        # and 64 MB for the CPU's noise (the process's resident size is ~400 MB more)
        assert peak <= 2 * params + 3 * saved + 64 * 2**20, (n, peak)


def _problem(n: int = 512):
    # one wide layer: about 0.5 MB per sample in a product. The probe sizes grow until the peaks
    # differ by RESOLVABLE (64 MB), so there must be samples enough for ~130 of them to span it:
    # with 96, the fit ran on 8/16/32 samples whose peaks were within the CPU's noise
    model = build_model("mlp", (1, 40), 10, seed=0, widths=[20000])
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 1, 40, generator=g), torch.randint(0, 10, (n,), generator=g)
    return model, x, y


def test_fit_chunk_refuses_what_does_not_fit():
    cost = LinearCost(1e6, 1e4, (2, 4, 8), ())
    assert fit_chunk(cost, 1e6 + 1e4 * 50, 40) == 40
    with pytest.raises(ValueError, match="raise hessian.memory_gb"):
        fit_chunk(cost, 5e5, 40)
    with pytest.raises(ValueError, match="cache_primal"):
        fit_chunk(cost, 1e6 + 1e4 * 30, 40, cache_primal=True)


def test_auto_picks_a_chunk_within_the_budget():
    """One measurement, then the plan under budgets set from it: a second measurement would
    scatter by tens of MB on a shared CPU, more than the room the budgets leave. The large
    budget takes every sample (on the steepest line the first peaks allow); the plan reads the
    cost fitted where the sizes resolve it (no budget given: they grow until then)."""
    model, x, y = _problem()
    held = sum(t.numel() * t.element_size() for t in [*model.parameters(), x, y])
    basis = 2 * 10 * sum(p.numel() for n, p in model.named_parameters() if "weight" in n) * 4
    probe = auto_chunk(model, x, y, 100.0, probes=2, steps=10)
    assert probe.batch_size == len(y)  # a large budget: all samples in one chunk
    assert probe.reserved_bytes == held + basis and probe.basis_bytes == basis
    cost = per_sample_cost(hvp_measure(model, x, y, 2), (1, 2), len(y))
    # the product's activations: about 1 MB per sample in the 20000-wide layer (0.16 MB a copy)
    assert 0.3e6 < cost.per_sample < 4e6 and not cost.bound
    probe = dataclasses.replace(probe, hvp=cost)
    # room for 40.5 samples' products above what the fit says a product needs: the half sample
    # keeps both bounds below clear of the rounding of the budget in GB (at exactly 40, one of
    # them compares two equal numbers)
    budget = (held + basis + probe.hvp.at(40.5)) / GB
    choice = plan_chunk(probe.hvp, budget, held, basis, None, len(y))
    assert choice.batch_size == 40
    assert choice.reserved_bytes + choice.hvp.at(choice.batch_size) <= budget * GB
    assert choice.reserved_bytes + choice.hvp.at(choice.batch_size + 1) > budget * GB
    assert choice.basis_bytes == basis == choice.basis_device_bytes
    spilled = plan_chunk(probe.hvp, budget, held, basis, 0.0, len(y))
    assert spilled.basis_device_bytes == 0 and spilled.reserved_bytes < choice.reserved_bytes
    assert spilled.batch_size > choice.batch_size  # the basis's room goes to the product


def _splits(x, y) -> DatasetSplits:
    meta = {"scale": 1.0, "mean": [0.0], "std": [1.0], "input_shape": [1, 40], "num_classes": 10}
    split = Split(x, y, meta, "cpu")
    return DatasetSplits(split, split, split, meta=meta)


@pytest.mark.slow
def test_the_spectrum_with_auto_equals_the_one_with_the_chunk_it_chose():
    model, x, y = _problem()
    data = _splits(x, y)
    h = HessianSettings(
        engine="builtin",
        lanczos_steps=10,
        probes=2,
        samples=None,
        batch_size="auto",
        top_k=3,
        seed=0,
        cache_primal=False,
    )
    # a budget that splits the 512 samples into chunks (so the chosen chunk is not all of them),
    # with room for a quarter of them: spectrum_of measures again, and the two measurements
    # scatter by tens of MB on a shared CPU (the probe's budget: see the test above)
    probe = auto_chunk(model, x, y, 1.0, probes=2, steps=10)
    h = dataclasses.replace(h, memory_gb=(probe.reserved_bytes + probe.hvp.at(128)) / GB)
    auto = spectrum_of(model, data, h)
    chunk = auto["batch_size"]
    assert auto["batch_size_mode"] == "auto" and 1 <= chunk < len(y)
    rec = auto["chunk_choice"]
    assert rec["batch_size"] == chunk and rec["memory_gb"] == h.memory_gb
    assert rec["hvp_per_sample_bytes"] > 0
    json.dumps(rec)  # recorded as plain numbers
    given = spectrum_of(model, data, dataclasses.replace(h, batch_size=chunk))
    assert given["batch_size"] == chunk and given["chunk_choice"] is None
    for key in ("alpha", "beta", "nodes", "weights"):
        assert np.allclose(auto[key], given[key], rtol=1e-6, atol=1e-9)
    assert auto["n_hvp"] == given["n_hvp"]


@pytest.mark.slow
def test_the_gpu_benchmark_runs_as_a_cpu_smoke_test(tmp_path, capsys):
    """bench.gpu at tiny sizes on the CPU: the device check, fc5's primitives, the paper DAG's
    dry run (in the background) and the projection table of every rule."""
    from prunelimit.bench import gpu

    before = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    try:
        args = ["--device", "cpu", "--only", "fc5", "--batch", "2", "--samples", "8"]
        args += ["--steps", "2", "--eval-samples", "16", "--memory-gb", "6", "--repeats", "1"]
        res = gpu.main([*args, "--json", str(tmp_path / "g.json")])
    finally:
        torch.use_deterministic_algorithms(before)
        torch.set_num_threads(threads)
    assert res["deterministic"] == {"fc5": "ok"}
    fc5 = res["experiments"]["cifar10_fc5"]
    assert 1 <= fc5["auto_chunk"]["batch_size"] <= 8 and fc5["train_step_s"] > 0
    assert all(v > 0 for v in fc5["primitives"].values())
    rows = {r["rule"]: r for r in res["projection"]}
    assert rows["train"]["jobs"] == 54 and rows["train"]["measured"] == 9  # fc5: 3 kinds x 3
    assert rows["sap_ablation"]["gpu_hours"] is None  # VGG16's only: not measured here
    assert rows["limits_table"]["status"] == "no GPU"
    assert res["gpu_hours"]["total"] > 0
    assert "| train | 54 |" in capsys.readouterr().out
    assert json.loads((tmp_path / "g.json").read_text())["device"] == "cpu"


@pytest.mark.slow
def test_the_memory_benchmark_measures_an_evaluation_pass(tmp_path):
    from prunelimit.bench import memory

    res = memory.main(["--only", "cifar10_fc5", "--json", str(tmp_path / "m.json")])
    (row,) = res["experiments"]
    ev = LinearCost(**row["eval"])
    # at least the input batch and the first hidden layer's output, float32, per sample
    assert ev.per_sample >= 4 * (3 * 32 * 32 + 1000)
    assert row["eval_peak_bytes"] == pytest.approx(
        row["weights_bytes"] + row["dataset_bytes"] + ev.at(row["eval_batch"])
    )
    assert "evaluation peak at batch" in memory.table([row])


def _mmapped_blocks() -> int:
    """glibc's count of blocks it serves by their own ``mmap`` (``mallinfo2().hblks``)."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]  # fmt: skip

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    return int(libc.mallinfo2().hblks)


def test_a_measurement_leaves_the_allocator_as_it_found_it():
    """A CPU measurement serves every allocation over 128 kB by its own mmap, which makes a
    job's later work page-fault afresh (a ResNet50 Hessian product 43 % slower): released
    after, a 1 MB block lands on the heap again."""
    peak_memory(lambda: None, "cpu")
    before = _mmapped_blocks()
    block = bytearray(2**20)
    assert _mmapped_blocks() == before, "a 1 MB block was mmapped: the threshold stayed fixed"
    del block
