"""``hessian.memory_gb: auto``: a stated share of the job's device memory, resolved in one place
(``prunelimit.curvature.memory.resolve_memory_gb``), choosing the chunk the number would."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from prunelimit.curvature import memory
from prunelimit.curvature.memory import (
    AUTO_SHARE,
    GB,
    LinearCost,
    auto_chunk,
    choose_chunk,
    device_memory_bytes,
    host_memory_bytes,
    resolve_memory_gb,
)
from prunelimit.models.registry import build_model


def test_auto_is_the_share_of_the_device_memory(monkeypatch):
    monkeypatch.setattr(memory, "device_memory_bytes", lambda device: 80e9)
    assert resolve_memory_gb("auto", "cpu") == pytest.approx(AUTO_SHARE * 80)
    assert resolve_memory_gb(30, "cpu") == 30.0 and resolve_memory_gb(2.5, "cuda") == 2.5
    with pytest.raises(ValueError, match="a number > 0 or auto"):
        resolve_memory_gb("lots", "cpu")


def test_the_device_memory_is_the_gpu_total_or_the_host_share(monkeypatch):
    props = SimpleNamespace(total_memory=85_000_000_000)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: props)
    assert device_memory_bytes("cuda:0") == 85_000_000_000
    host = host_memory_bytes()
    total = int(open("/proc/meminfo").read().split()[1]) * 1024  # MemTotal, the first line
    assert 0 < host <= total and device_memory_bytes("cpu") <= total


def test_the_chunk_under_auto_is_the_chunk_under_the_number_it_resolves_to(monkeypatch, capsys):
    torch.manual_seed(0)
    model = build_model("mlp", (1, 40), 10, seed=0)
    x, y = torch.randn(512, 1, 40), torch.randint(0, 10, (512,))
    cost = LinearCost(2e6, 1e5, (1, 2), (2_100_000, 2_200_000))  # a fixed, known product cost
    monkeypatch.setattr(memory, "per_sample_cost", lambda *args, **kwargs: cost)
    held = auto_chunk(model, x, y, 100.0, probes=2, steps=10).reserved_bytes
    total = (held + cost.at(100.5)) / AUTO_SHARE  # device bytes whose share fits 100 samples
    monkeypatch.setattr(memory, "device_memory_bytes", lambda device: total)
    auto = auto_chunk(model, x, y, "auto", probes=2, steps=10)
    number = auto_chunk(model, x, y, AUTO_SHARE * total / GB, probes=2, steps=10)
    assert auto.batch_size == number.batch_size == 100
    assert auto.memory_gb == pytest.approx(AUTO_SHARE * total / GB)  # recorded as the number
    chunk, choice = choose_chunk(model, x, y, "auto", "auto", vectors=2, steps=10)
    assert chunk == 100 and choice.memory_gb == auto.memory_gb
    assert f"hessian.memory_gb auto: {AUTO_SHARE:g} x" in capsys.readouterr().out
