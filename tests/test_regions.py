"""Rank-aware linear-region bound: Serra's dense bound, a direct (no DP) evaluation, monotonicity,
the rank law, and the density allocations."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prunelimit.config.settings import TrainSettings
from prunelimit.models.networks import MLP
from prunelimit.models.registry import MODELS, build_model
from prunelimit.pruning import global_magnitude_masks, layer_magnitude_masks
from prunelimit.regions.bound import (
    REGION_MODELS,
    allocate,
    hidden_sizes,
    kept_counts,
    log_region_bound,
    rank_log_pmf,
)
from prunelimit.regions.sparsity import allocation_masks, compare_allocations, mlp_dims


# A reference for the bound: Serra et al.'s by direct enumeration.
def serra_bound_bruteforce(n0: int, widths: Sequence[int]) -> int:
    """Serra et al.'s dense bound by direct enumeration of ``J`` (exact integers; tiny nets)."""
    total = 0

    def walk(layer: int, cap_dims: list[int], prod: int) -> None:
        nonlocal total
        if layer == len(widths):
            total += prod
            return
        n = widths[layer]
        zeta = min([n0, *cap_dims, n])
        for j in range(zeta + 1):
            walk(layer + 1, [*cap_dims, n - j], prod * math.comb(n, j))

    walk(0, [], 1)
    return total


def direct_bound(n0: int, widths: list[int], densities: list[float]) -> float:
    """The expected sparse bound summed term by term: over every rank tuple (k_l) with its
    probability and every activation tuple (j_l) with j_l <= min(d, k_l), where the dimension
    d starts at n_0 and becomes min(d, k_l, n_l - j_l)."""
    ins = [n0, *widths[:-1]]
    pmfs = [np.exp(rank_log_pmf(n, m, p)) for n, m, p in zip(widths, ins, densities, strict=True)]
    total = 0.0
    for ks in itertools.product(*[range(len(p)) for p in pmfs]):
        prob = math.prod(p[k] for p, k in zip(pmfs, ks, strict=True))
        if prob == 0.0:
            continue
        terms = 0

        def walk(layer: int, d: int, prod: int, ks=ks) -> None:
            nonlocal terms
            if layer == len(widths):
                terms += prod
                return
            n, k = widths[layer], ks[layer]
            for j in range(min(d, k) + 1):
                walk(layer + 1, min(d, k, n - j), prod * math.comb(n, j))

        walk(0, n0, 1)
        total += prob * terms
    return total


def quadratic_dp_bound(n0: int, widths: list[int], densities: list[float]) -> float:
    """The bound's dynamic programme as the module's docstring writes it, each logsumexp
    summed term by term over every ``j`` and every rank ``k`` (O(n^2) a layer, nothing
    dropped): the reference at widths where the direct sum is out of reach."""
    ins = [n0, *widths[:-1]]
    top = list(itertools.accumulate(ins, min))
    nxt = [0.0] * (n0 + 1)
    for layer in reversed(range(len(widths))):
        n, log_p = widths[layer], rank_log_pmf(widths[layer], ins[layer], densities[layer])
        cmax = min(top[layer], len(log_p) - 1)
        inner = [
            _lse(
                [
                    math.lgamma(n + 1)
                    - math.lgamma(j + 1)
                    - math.lgamma(n - j + 1)
                    + nxt[min(c, n - j)]
                    for j in range(c + 1)
                ]
            )  # fmt: skip
            for c in range(cmax + 1)
        ]
        nxt = [
            _lse([lp + inner[min(d, k)] for k, lp in enumerate(log_p) if lp > -math.inf])
            for d in range(top[layer] + 1)
        ]
    return nxt[n0]


def _lse(terms: list[float]) -> float:
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def test_serra_bruteforce_known_values():
    # one hidden layer: n_1 hyperplanes in general position in R^{n_0} (Zaslavsky)
    assert serra_bound_bruteforce(2, [3]) == 1 + 3 + 3
    assert serra_bound_bruteforce(3, [5]) == 1 + 5 + 10 + 10
    # (3, 3) on a 2-D input, by hand: j1=0: 1*7, j1=1: 3*7, j1=2: 3*(1+3)
    assert serra_bound_bruteforce(2, [3, 3]) == 40


@pytest.mark.parametrize(
    ("n0", "widths"), [(2, [3, 3]), (2, [3]), (5, [4, 6, 3]), (3, [2, 5, 4]), (7, [3, 8])]
)
def test_dense_bound_equals_serra(n0, widths):
    want = math.log(serra_bound_bruteforce(n0, widths))
    assert log_region_bound(n0, widths) == pytest.approx(want, rel=1e-12)
    assert log_region_bound(n0, widths, [1.0] * len(widths)) == pytest.approx(want, rel=1e-12)


def test_bound_works_in_log_space_for_wide_layers():
    dense = log_region_bound(40, [256, 256, 128])
    assert dense == pytest.approx(294.4398, abs=1e-4)  # ~10^128 regions: far beyond float64
    value = log_region_bound(40, [256, 256, 128], [0.002, 0.002, 0.002])
    assert math.isfinite(value) and 100 < value < dense - 10
    assert math.isfinite(log_region_bound(3072, [1000, 600], [0.001, 0.01]))


@settings(max_examples=25, deadline=None)
@given(
    n0=st.integers(1, 4),
    widths=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    data=st.data(),
)
def test_bound_matches_direct_sum(n0, widths, data):
    dens = [data.draw(st.floats(0.0, 1.0)) for _ in widths]
    want = direct_bound(n0, widths, dens)
    assert math.exp(log_region_bound(n0, widths, dens)) == pytest.approx(want, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    n0=st.integers(1, 60),
    widths=st.lists(st.integers(1, 60), min_size=1, max_size=4),
    data=st.data(),
)
def test_bound_matches_the_quadratic_programme_at_wider_layers(n0, widths, data):
    """Widths up to 60 and densities down to 2e-6, where a rank of low probability still
    reaches layers of many regions: every rank counts (skipping the ranks below e^-60 of the
    most likely one is off by 2e-4 in the log at the example below)."""
    density = st.sampled_from([0.0, 1.0, 1e-3, 2e-6]) | st.floats(0.0, 1.0)
    dens = [data.draw(density) for _ in widths]
    want = quadratic_dp_bound(n0, widths, dens)
    assert log_region_bound(n0, widths, dens) == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_a_rank_of_low_probability_still_counts():
    widths, dens = [59, 30, 24, 53], [1.9677508437667343e-06, 0.8747255182705065, 1.0, 0.66]
    want = quadratic_dp_bound(57, widths, dens)
    assert log_region_bound(57, widths, dens) == pytest.approx(want, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    n0=st.integers(1, 12),
    widths=st.lists(st.integers(1, 20), min_size=1, max_size=4),
    data=st.data(),
)
def test_bound_never_decreases_with_any_layer_density(n0, widths, data):
    dens = [data.draw(st.floats(0.0, 1.0)) for _ in widths]
    layer = data.draw(st.integers(0, len(widths) - 1))
    more = list(dens)
    more[layer] = data.draw(st.floats(dens[layer], 1.0))
    lo, hi = log_region_bound(n0, widths, dens), log_region_bound(n0, widths, more)
    assert hi >= lo - 1e-9 * max(1.0, abs(lo))
    assert hi <= log_region_bound(n0, widths) + 1e-9 * max(1.0, hi)


def test_empty_layer_collapses_to_one_region():
    assert log_region_bound(3, [4, 5], [0.0, 1.0]) == pytest.approx(0.0, abs=1e-12)


def test_rank_law_normalised_and_dominates_sampled_rank():
    for rows, cols, p in [(20, 30, 0.05), (30, 20, 0.02), (8, 8, 0.5), (5, 9, 1.0), (5, 9, 0.0)]:
        pmf = np.exp(rank_log_pmf(rows, cols, p))
        assert pmf.sum() == pytest.approx(1.0)
        m, q = min(rows, cols), 1 - (1 - p) ** max(rows, cols)
        assert (pmf * np.arange(len(pmf))).sum() == pytest.approx(m * q)
    # the binomial law counts non-empty short-side lines, an upper bound on the rank
    g = torch.Generator().manual_seed(0)
    rows, cols, p = 20, 30, 0.04
    w = torch.randn(400, rows, cols, generator=g) * (torch.rand(400, rows, cols, generator=g) < p)
    ranks = torch.linalg.matrix_rank(w).double()
    nonempty_rows = (w != 0).any(2).sum(1).double()
    assert (ranks <= nonempty_rows).all()
    pmf = np.exp(rank_log_pmf(rows, cols, p))
    mean_law = (pmf * np.arange(len(pmf))).sum()
    assert float(nonempty_rows.mean()) == pytest.approx(mean_law, rel=0.03)
    assert float(ranks.mean()) < mean_law


@pytest.mark.parametrize("rho", [0.5, 0.05, 0.01, 0.002])
def test_allocation_keeps_global_density_and_beats_uniform(rho):
    n0, widths = 40, [64, 64, 32]
    sizes = np.array(hidden_sizes(n0, widths))
    dens, value = allocate(n0, widths, rho)
    assert (dens >= 0).all() and (dens <= 1).all()
    assert (dens * sizes).sum() == pytest.approx(rho * sizes.sum(), rel=1e-9)
    assert value == pytest.approx(log_region_bound(n0, widths, dens))
    assert value >= log_region_bound(n0, widths, [rho] * 3) - 1e-12


def test_allocation_prefers_the_input_layer_when_very_sparse():
    dens, value = allocate(40, [256, 256, 128], 0.005)
    assert dens[0] > 0.005 > dens[1]
    assert value > log_region_bound(40, [256, 256, 128], [0.005] * 3) + 1.0


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 500), min_size=1, max_size=5),
    data=st.data(),
)
def test_kept_counts_exact_total(sizes, data):
    total = data.draw(st.integers(0, sum(sizes)))
    dens = [data.draw(st.floats(0.0, 1.0)) for _ in sizes]
    counts = kept_counts(dens, sizes, total)
    assert sum(counts) == total
    assert all(0 <= c <= n for c, n in zip(counts, sizes, strict=True))


def test_layer_masks_keep_largest_per_layer():
    w = {"a": torch.tensor([[3.0, -1.0], [0.5, -4.0]]), "b": torch.tensor([[1.0, 2.0, -3.0]])}
    m = layer_magnitude_masks(w, [1, 2])
    assert m["a"].tolist() == [[False, False], [False, True]]
    assert m["b"].tolist() == [[False, True, True]]


@pytest.mark.parametrize("allocation", ["bound", "uniform", "global"])
def test_allocation_masks_kept_count(allocation):
    torch.manual_seed(0)
    model = MLP((10,), 3, (12, 8))
    n0, widths, names = mlp_dims(model)
    assert (n0, widths, names) == (10, [12, 8], ["net.1.weight", "net.3.weight"])
    params = dict(model.named_parameters())
    weights = {n: params[n].detach() for n in names}
    masks, realised, value = allocation_masks(weights, n0, widths, 0.1, allocation)
    total = round(0.1 * (120 + 96))
    assert sum(int(m.sum()) for m in masks.values()) == total
    np.testing.assert_allclose(realised, [float(m.float().mean()) for m in masks.values()])
    assert value == pytest.approx(log_region_bound(n0, widths, realised))
    if allocation == "global":
        ref = global_magnitude_masks(weights, total)
        assert all(torch.equal(masks[n], ref[n]) for n in names)


def test_mlp_dims_rejects_other_architectures():
    with pytest.raises(ValueError, match="MLP"):
        mlp_dims(build_model("alexnet", (1, 8, 8), 3))


def test_compare_allocations_small(mnist1d):
    torch.manual_seed(0)
    model = MLP(mnist1d.input_shape, mnist1d.num_classes, (16, 8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    s = TrainSettings(epochs=1, batch_size=256, lr=0.05)
    rows = compare_allocations(model, mnist1d, [0.2], s, seed=0)
    assert [r["allocation"] for r in rows] == ["bound", "uniform", "global"]
    assert len({r["kept"] for r in rows}) == 1
    assert rows[0]["kept"] == round(0.2 * (40 * 16 + 16 * 8))
    assert all(0.0 <= r["test_acc"] <= 1.0 for r in rows)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_region_counts_are_those_of_each_pruned_network_on_the_plane(mnist1d):
    """``regions`` is the exact count of the masked network's regions on the plane
    (:func:`exact_partition`), ``grid_regions`` the distinct sign patterns of its grid points
    (counted here with ``np.unique`` over the bits), fewer; with no fine-tuning, before equals
    after; a network with no hidden weights left has one region."""
    from prunelimit.partition.codes import partition_bits
    from prunelimit.partition.exact import exact_partition
    from prunelimit.partition.plane import Plane, watch_anchors
    from prunelimit.pruning import apply_masks

    torch.manual_seed(0)
    model = MLP(mnist1d.input_shape, mnist1d.num_classes, (16, 8))
    plane = Plane(watch_anchors(mnist1d), grid=20, margin=0.25)
    s = TrainSettings(epochs=0, batch_size=256, lr=0.05)
    rows = compare_allocations(model, mnist1d, [0.3], s, seed=0, plane=plane)
    n0, widths, names = mlp_dims(model)
    for r in rows:
        assert r["regions"] == r["oneshot_regions"]
        assert r["grid_regions"] == r["oneshot_grid_regions"]
        pruned = MLP(mnist1d.input_shape, mnist1d.num_classes, (16, 8))
        pruned.load_state_dict(model.state_dict())
        params = dict(pruned.named_parameters())
        masks, _, _ = allocation_masks({n: params[n].detach() for n in names}, n0, widths, 0.3,
                                       r["allocation"])  # fmt: skip
        apply_masks(pruned, masks)
        bits = np.concatenate([b.numpy() for b in partition_bits(pruned, plane.inputs())], axis=1)
        assert r["grid_regions"] == len(np.unique(bits, axis=0)) > 1
        assert r["regions"] == exact_partition(pruned, plane.anchors, 0.25).regions
        assert r["regions"] > r["grid_regions"]  # a 20 x 20 grid misses regions
    with torch.no_grad():
        for n in names:
            dict(model.named_parameters())[n].zero_()
    row = compare_allocations(model, mnist1d, [0.3], s, seed=0, plane=plane)[0]
    assert row["regions"] == row["grid_regions"] == 1


@pytest.mark.parametrize("name", sorted(MODELS))
def test_region_models_are_exactly_the_plain_relu_mlps(name):
    """The workflow runs the region stage for REGION_MODELS (kept without torch): it must be
    exactly the registered models that mlp_dims accepts."""
    shape = (1, 32, 32) if name in ("alexnet", "vgg16", "resnet18", "resnet50") else (40,)
    model = build_model(name, shape, 10, seed=0)
    try:
        mlp_dims(model)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == (name in REGION_MODELS)


def test_the_bounds_prefix_logsumexp_is_scipys():
    from scipy.special import logsumexp

    from prunelimit.regions.bound import _cumulative_lse

    a = np.random.default_rng(0).normal(0.0, 300.0, 40)
    a[5:9] = -np.inf  # terms of probability 0 inside
    a[12] = 1e4  # one term dominating the rest
    want = [logsumexp(a[: j + 1]) for j in range(len(a))]
    np.testing.assert_allclose(_cumulative_lse(a), want, rtol=1e-14)
    assert (_cumulative_lse(np.full(3, -np.inf)) == -np.inf).all()  # nothing: log 0
