"""The SLURM profile gives every GPU rule its own cluster resources."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def gpu_rules() -> set[str]:
    """Rules whose resources ask for the `gpu` resource, and the rules that reuse them."""
    rules, uses = set(), {}
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        text = path.read_text()
        for block in re.split(r"\n(?=rule |use rule )", text):
            named = re.match(r"rule (\w+):", block)
            if named and "gpu=GPUS" in block:
                rules.add(named.group(1))
            used = re.match(r"use rule (\w+) as (\w+)", block)
            if used:
                uses[used.group(2)] = used.group(1)
    return rules | {new for new, old in uses.items() if old in rules}


def test_every_gpu_rule_has_its_cluster_resources():
    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    resources = profile["set-resources"]
    found = gpu_rules()
    assert {"train", "sap", "sap_dense", "kind_spectrum", "prune_at_init"} <= found
    missing = sorted(r for r in found if not {"runtime", "mem_mb"} <= set(resources.get(r, {})))
    assert not missing, f"GPU rules with the profile's defaults (60 min, 8 GB): {missing}"


def _paper_hosts() -> dict[str, int]:
    """Per GPU rule of the paper grid, the largest host memory one of its jobs needs (bytes):
    runtime and dataset, and for the spectra the pinned spill of their Lanczos basis."""
    import torch

    from prunelimit.bench.host import job_host_bytes, spilled_basis_bytes
    from prunelimit.bench.memory import dataset_bytes
    from prunelimit.config.validate import load_settings
    from prunelimit.data import get_spec
    from prunelimit.models.registry import build_model
    from prunelimit.pruning import prunable_weights

    s = load_settings(yaml.safe_load((REPO / "config" / "paper.yaml").read_text()))
    spline = getattr(s.spline, "early_bird", s.spline)
    overrides = {"spectrum": None, "kind_spectrum": None, "gradual": s.gradual.hessian}
    overrides["spline_eb"] = spline.hessian
    need: dict[str, int] = {}
    for exp in s.experiments:
        spec = get_spec(exp.dataset)
        with torch.device("meta"):
            model = build_model(exp.model, spec.input_shape, spec.num_classes, seed=0)
        D = sum(w.numel() for w in prunable_weights(model).values())
        data = dataset_bytes(exp.dataset)
        for rule in gpu_rules():
            spill = 0
            if rule in overrides:
                h = s.hessian_for(exp.name)
                h = h.with_overrides(overrides[rule]) if overrides[rule] else h
                steps = h.lanczos_steps if h.lanczos_steps != "auto" else h.max_lanczos_steps
                spill = spilled_basis_bytes(h.probes, steps, D, h.basis_memory_gb)
            need[rule] = max(need.get(rule, 0), job_host_bytes(data, spill))
    return need


def test_host_memory_of_every_gpu_rule_holds_its_largest_paper_job():
    """mem_mb (MB = 1e6 B) covers the runtime, the dataset and the pinned Lanczos spill (blocks
    rounded up to powers of two) of the rule's largest job on config/paper.yaml."""
    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    resources = profile["set-resources"]
    short = {
        rule: f"{resources[rule]['mem_mb']} MB < {need / 1e6:.0f} MB"
        for rule, need in _paper_hosts().items()
        if resources[rule]["mem_mb"] * 1e6 < need
    }
    assert not short, f"mem_mb below the paper grid's need: {short}"


def test_pinned_spill_is_rounded_to_powers_of_two():
    from prunelimit.bench.host import pinned_bytes, spilled_basis_bytes

    assert [pinned_bytes(n) for n in (1, 2, 3, 4096, 4097)] == [1, 2, 4, 4096, 8192]
    # ResNet50 on TinyImageNet: 2 probes x 23.9 M weights x 4 B = 191 MB a block, 41 on the GPU
    # under 8 GB, the other 87 of 128 steps pinned at 2^28 B each
    D = 23_856_832
    assert spilled_basis_bytes(2, 128, D, 8) == 87 * 2**28
    assert spilled_basis_bytes(2, 128, D, None) == 0
