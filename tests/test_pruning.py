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
    removed_sq_tail,
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


def test_the_removed_squares_tail_sums_backwards_as_torch_does():
    """The CPU's in-place numpy sum gives the bits of the device path's flipped cumsum, and
    each entry is the sum of the squares from there on."""
    mags = sorted_magnitudes(torch.randn(100_003, dtype=torch.float64))
    tail = removed_sq_tail(mags)
    reference = torch.cumsum(mags.flip(0) ** 2, 0).flip(0)
    assert torch.equal(tail[:-1], reference) and tail[-1] == 0 and tail.shape == (100_004,)
    assert torch.isclose(tail[99_000], (mags[99_000:] ** 2).sum())
    assert torch.equal(mags, sorted_magnitudes(mags))  # its input is untouched


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


def test_ranks_by_integer_key_equal_a_float64_stable_sort():
    """The radix-sortable key keeps the float64 order and the tie rule (earlier first), with
    the +-inf markers of pruned entries, in one row and in many."""
    from prunelimit.pruning import _ranks

    g = torch.Generator().manual_seed(0)
    w = torch.randn(200_000, generator=g)
    w[::7], w[::11], w[::13] = 0.5, -0.5, 0.0  # ties
    mags = w.abs().double()
    mags[::17], mags[::19] = float("inf"), float("-inf")
    rows = torch.randn(6, 5000, generator=g).double()  # signed: the key of a negative value
    rows[:, ::3] = 0.25
    huge = torch.tensor([[1e300, 3.0, 1e-300, 3.0]], dtype=torch.float64)  # not float32 values
    rows[0, :4] = torch.tensor([0.0, -0.0, 0.0, -0.0], dtype=torch.float64)  # equal: by position
    for m in (mags[None], rows, huge):
        order = torch.argsort(m, dim=1, stable=True)
        expected = torch.empty_like(order).scatter_(
            1, order, torch.arange(m.shape[1]).expand_as(order)
        )
        assert torch.equal(_ranks(m), expected)


def test_sorted_magnitudes_equal_a_float64_sort():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(100_000, generator=g)
    w[::9], w[::10] = 0.0, -0.125  # ties and zeros
    expected = torch.sort(w.abs().double(), descending=True).values
    assert torch.equal(sorted_magnitudes(w), expected)
    assert torch.equal(sorted_magnitudes(w.double()), expected)
