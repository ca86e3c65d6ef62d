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
