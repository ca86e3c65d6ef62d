"""The pruning-strategy interface: the registry, the one tie rule, a toy strategy run through the
same driver as SAP/LT/OS."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_sap import TRAIN, build, tiny_data

from prunelimit.pruning import (
    global_magnitude_masks,
    keep_largest,
    layer_magnitude_masks,
    prune_smallest,
)
from prunelimit.sap.iterative import run_pruning
from prunelimit.sap.strategies import (
    STRATEGIES,
    PruneSettings,
    PruningState,
    Strategy,
    get_strategy,
    register,
)

REPO = Path(__file__).resolve().parents[1]


def test_the_iterative_methods_are_the_registered_strategies():
    from prunelimit.methods.registry import names

    assert set(names("iterative")) == set(STRATEGIES) == {"sap", "lt", "os"}


def test_unknown_method_names_the_registered_ones():
    with pytest.raises(ValueError, match=r"method must be one of \('sap', 'lt', 'os'\)"):
        get_strategy("magnitude")


def test_one_tie_rule_everywhere():
    """Equal magnitudes: the earlier position is pruned first, in every mask helper."""
    w = torch.tensor([[0.5, -1.0, 1.0, 0.5, 2.0, -0.5]])
    full = torch.ones_like(w, dtype=torch.bool)
    want = torch.tensor([[False, True, True, False, True, True]])  # keep 4: drop first two 0.5
    assert torch.equal(keep_largest(w, full, torch.tensor([4])), want)
    assert torch.equal(global_magnitude_masks({"a": w[0, :3], "b": w[0, 3:]}, 4)["b"], want[0, 3:])
    assert torch.equal(layer_magnitude_masks({"w": w}, [4])["w"], want)
    assert torch.equal(prune_smallest(w, full, 2), want)
    two = torch.cat([w, w.flip(1)])  # second row: ties mirrored, so the kept 0.5 moves
    got = keep_largest(two, torch.ones_like(two, dtype=torch.bool), torch.tensor([4, 4]))
    assert torch.equal(got[0], want[0])
    assert torch.equal(got[1], torch.tensor([False, True, False, True, True, True]))


def test_keep_largest_counts_only_kept_entries():
    w = torch.tensor([[3.0, 2.0, 1.0, 4.0]])
    mask = torch.tensor([[True, False, True, True]])
    assert torch.equal(keep_largest(w, mask, torch.tensor([2])), torch.tensor([[1, 0, 0, 1]]) > 0)
    assert torch.equal(keep_largest(w, mask, torch.tensor([9])), mask)  # clipped


def test_toy_strategy_runs_through_the_driver():
    """Registering a strategy (one class, one decorator) is all the driver needs."""

    class EveryOther(Strategy):
        """Toy: per group, remove half of the kept weights (rounded down), smallest first."""

        name = "every_other_test"

        def remove(self, stats: dict, state: PruningState) -> torch.Tensor:
            return torch.floor(stats["d"] / 2)

    register(EveryOther)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register(EveryOther)
        records = run_pruning(
            "every_other_test", "layer", build, tiny_data(), TRAIN, 2, 3, PruneSettings(), seed=0
        )
    finally:
        STRATEGIES.pop("every_other_test")
    sizes = {"conv.weight": 12, "fc.weight": 96}
    assert [r["iteration"] for r in records] == [0, 1, 2]
    for r in records:
        t = r["iteration"]
        for name, n in sizes.items():
            kept = n
            for _ in range(t):
                kept -= kept // 2
            assert r["layers"][name] == pytest.approx(kept / n)
        assert r["kept"] == sum(round(r["layers"][k] * n) for k, n in sizes.items())


@pytest.mark.parametrize("seed", range(20))
def test_one_row_fast_path_equals_the_sorting_rule(seed):
    """The linear-time single-row path (global and layer scopes) keeps exactly what the sorting
    path keeps, ties included (integer-valued weights: many ties)."""
    g = torch.Generator().manual_seed(seed)
    values = torch.randint(-4, 5, (1, 60), generator=g).float()
    mask = torch.rand(1, 60, generator=g) < 0.8
    keep = int(torch.randint(0, int(mask.sum()) + 2, (1,), generator=g))
    fast = keep_largest(values, mask, torch.tensor([keep]))
    two_rows = keep_largest(values.repeat(2, 1), mask.repeat(2, 1), torch.tensor([keep, keep]))
    assert torch.equal(fast[0], two_rows[0]) and torch.equal(two_rows[0], two_rows[1])
