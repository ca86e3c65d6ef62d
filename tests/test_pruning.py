import torch

from prunelimit.models.registry import build_model
from prunelimit.pruning import (
    apply_masks,
    count_prunable,
    global_magnitude_masks,
    kept_ratio,
    magnitude_path,
    prunable_weights,
    prune_smallest,
    removed_norm,
    sorted_magnitudes,
)


def test_global_magnitude_keeps_exactly_the_largest():
    model = build_model("mlp", (1, 40), 10, seed=0, widths=(32, 16))
    weights = prunable_weights(model)
    D = count_prunable(model)
    for keep in (0, 1, 37, D // 2, D):
        masks = global_magnitude_masks(weights, keep)
        assert sum(int(m.sum()) for m in masks.values()) == keep
        kept = torch.cat(
            [w.detach().abs()[m] for w, m in zip(weights.values(), masks.values(), strict=True)]
        )
        dropped = torch.cat(
            [w.detach().abs()[~m] for w, m in zip(weights.values(), masks.values(), strict=True)]
        )
        if 0 < keep < D:
            assert kept.min() >= dropped.max()
    masks = global_magnitude_masks(weights, D // 4)
    apply_masks(model, masks)
    assert abs(kept_ratio(masks) - (D // 4) / D) < 1e-12
    assert sum(int((w != 0).sum()) for w in prunable_weights(model).values()) == D // 4


def test_removed_norm_matches_direct_computation():
    w = torch.randn(1000, dtype=torch.float64)
    mags = sorted_magnitudes(w)
    for keep in (0, 1, 500, 999, 1000):
        masks = global_magnitude_masks({"w": w}, keep)
        direct = w[~masks["w"]].norm()
        assert torch.isclose(removed_norm(mags, keep), direct)
    ks = torch.tensor([0, 10, 1000])
    assert removed_norm(mags, ks).shape == (3,)
    assert removed_norm(mags, 1000) == 0 and torch.isclose(removed_norm(mags, 0), w.norm())


def test_prune_smallest_only_touches_kept_entries():
    values = torch.tensor([5.0, -1.0, 3.0, 0.5, -4.0, 2.0])
    mask = torch.tensor([True, True, True, False, True, True])
    new = prune_smallest(values, mask, 2)
    assert new.tolist() == [True, False, True, False, True, False]
    assert prune_smallest(values, mask, 99).sum() == 0


def test_magnitude_path_equals_global_magnitude_masks_at_every_kept_count():
    """One sort for a whole pruning path keeps what the per-count selection keeps, ties
    included (values in quarter steps across two tensors: many ties)."""
    g = torch.Generator().manual_seed(0)
    weights = {
        "a": torch.randint(-3, 4, (4, 5), generator=g).float() / 4,
        "b": torch.randint(-3, 4, (7,), generator=g).float() / 4,
    }
    path = magnitude_path(weights)
    for keep in range(28):
        want = global_magnitude_masks(weights, keep)
        assert all(torch.equal(path(keep)[n], want[n]) for n in weights)
