"""The weights' magnitude distribution: histogram, distances between seeds, where limits cut."""

import numpy as np
import pytest

from prunelimit.limit.weights import (
    LOG10_EDGES,
    fractions,
    magnitude_at,
    magnitude_histogram,
    seed_distances,
    tv_distance,
)
from prunelimit.plotting.weights import cut_rows, histogram_rows, kept_rows, weight_distributions


def test_the_histogram_counts_every_weight_once_in_its_decade_bin():
    w = np.array([0.0, -0.0, 1.1e-3, -1.1e-3, 0.5, 3e-15, 1e5], dtype=np.float32)
    h = magnitude_histogram(w)
    assert h["D"] == 7 and h["zeros"] == 2 and sum(h["counts"]) == 5
    counts = np.asarray(h["counts"])
    centre = (LOG10_EDGES[:-1] + LOG10_EDGES[1:]) / 2
    # |w| = 1.1e-3 twice (sign ignored), in the bin [-3, -2.95); 0.5 in [-0.35, -0.3)
    assert counts[np.searchsorted(LOG10_EDGES, -3.0, side="right") - 1] == 2
    assert counts[np.argmin(np.abs(centre - np.log10(0.5)))] == 1
    assert counts[0] == 1 and counts[-1] == 1  # out of range: clipped into the end bins
    assert fractions(h).sum() == pytest.approx(1.0)


def test_sorted_magnitudes_are_binned_as_log10_of_each_value():
    """The bisection over sorted magnitudes (either order) bins as log10 of every value does,
    at the edges and one float either side of each."""
    edges = 10.0**LOG10_EDGES
    w = np.r_[np.zeros(3), edges, np.nextafter(edges, 0), np.nextafter(edges, 1), 1e-300, 1e300]
    logs = np.clip(np.log10(w[w > 0]), LOG10_EDGES[0], LOG10_EDGES[-1])
    expected = np.histogram(logs, bins=LOG10_EDGES)[0].tolist()
    rng = np.random.default_rng(2)
    for v in (rng.permutation(w), np.sort(w), np.sort(w)[::-1]):
        h = magnitude_histogram(v)
        assert h["zeros"] == 3 and h["counts"] == expected


def test_tv_distance_of_known_distributions():
    a = magnitude_histogram(np.full(100, 1e-2))
    b = magnitude_histogram(np.r_[np.full(75, 1e-2), np.full(25, 1.0)])
    c = magnitude_histogram(np.zeros(100))
    assert tv_distance(a, a) == 0.0
    assert tv_distance(a, b) == pytest.approx(0.25)  # a quarter of the mass moved
    assert tv_distance(a, c) == pytest.approx(1.0)  # zeros are a bin of their own
    other = {**a, "log10_edges": a["log10_edges"][:-1]}
    with pytest.raises(ValueError, match="different bins"):
        tv_distance(a, other)


def test_seed_distances_pairs_seeds_of_one_network_and_knows_sampling_noise():
    rng = np.random.default_rng(0)
    D = 200_000
    theories = [
        {"experiment": "e", "seed": s, "weight_histogram": magnitude_histogram(
            rng.standard_normal(D) * 0.01)}
        for s in (0, 1, 2)
    ] + [{"experiment": "e", "seed": 0, "kind": "l2",
          "weight_histogram": magnitude_histogram(rng.standard_normal(D) * 0.03)}]  # fmt: skip
    d = seed_distances(theories)
    assert list(zip(d["seed_a"], d["seed_b"], strict=True)) == [(0, 1), (0, 2), (1, 2)]
    assert set(d["kind"]) == {"l1"}  # one l2 seed: no pair
    # samples of one distribution: the distance is its sampling scale, within 30 %
    assert np.allclose(d["tv"], d["tv_sampling"], rtol=0.3)
    wider = tv_distance(theories[0]["weight_histogram"], theories[3]["weight_histogram"])
    assert wider > 20 * d["tv_sampling"].max()  # three times the scale: far beyond sampling


def test_magnitude_at_is_the_pruning_cut_to_the_bin():
    rng = np.random.default_rng(1)
    w = np.abs(rng.standard_normal(100_000))
    h = magnitude_histogram(w)
    for rho in (0.5, 0.1, 0.01):
        exact = np.sort(w)[::-1][int(rho * len(w)) - 1]  # the smallest kept magnitude
        cut = magnitude_at(h, rho)
        assert cut <= exact < cut * 10**0.05 + 1e-12, rho
    assert magnitude_at(magnitude_histogram(np.r_[np.zeros(90), np.ones(10)]), 0.5) == 0.0


def test_the_figure_draws_seed_means_and_the_cuts():
    rng = np.random.default_rng(2)
    theories = [
        {"experiment": "e", "seed": s, "rho_th": 0.1,
         "weight_histogram": magnitude_histogram(np.abs(rng.standard_normal(50_000)))}
        for s in (0, 1)
    ]  # fmt: skip
    limits = [{"experiment": "e", "seed": s, "rho_loss": 0.2} for s in (0, 1)]
    rows, cuts = histogram_rows(theories), cut_rows(theories, limits)
    fig = weight_distributions(theories, limits)
    ax = fig.axes[0]
    x, y = ax.lines[0].get_data()
    mean = rows.groupby("log10_mag")["fraction"].mean()
    assert np.allclose(x, mean.index) and np.allclose(y, 100 * mean.to_numpy())
    vlines = [line.get_xdata()[0] for line in ax.lines[1:]]
    expected = [np.log10(cuts["cut_theory"].mean()), np.log10(cuts["cut_actual"].mean())]
    assert np.allclose(vlines, expected)
    assert expected[0] > expected[1]  # kept 10 % (theory) cuts at a larger magnitude than 20 %


def test_a_run_without_histograms_or_seeds_still_draws():
    fig = weight_distributions([{"experiment": "e", "seed": 0, "rho_th": 0.1}], [])
    assert fig.axes and seed_distances([]).empty


def test_the_kept_ratio_row_is_magnitude_pruning_with_the_limits_on_it():
    """Fig. 2(c) as we read it: the kept ratio that pruning at ``|w|`` leaves (exact at the
    bins' edges), with ``rho_th`` and the actual limit at their cuts."""
    rng = np.random.default_rng(3)
    w = [np.abs(rng.standard_normal(40_000)) for _ in (0, 1)]
    theories = [
        {"experiment": "e", "seed": s, "rho_th": 0.1, "weight_histogram": magnitude_histogram(x)}
        for s, x in enumerate(w)
    ]
    limits = [{"experiment": "e", "seed": s, "rho_loss": 0.2} for s in (0, 1)]
    kept = kept_rows(theories)
    some = kept.set_index(["seed", "log10_mag"])["kept"].sample(20, random_state=0)
    for (seed, edge), k in some.items():
        assert k == pytest.approx((w[seed] >= 10.0**edge).mean(), abs=1e-12)
    fig = weight_distributions(theories, limits)
    ax, cuts = fig.axes[1], cut_rows(theories, limits)
    points = [line.get_xydata()[0].tolist() for line in ax.lines if line.get_marker() in ("o", "s")]
    expected = [
        [np.log10(cuts["cut_theory"].mean()), 10.0],
        [np.log10(cuts["cut_actual"].mean()), 20.0],
    ]
    assert np.allclose(points, expected)
    assert ax.get_yscale() == "log"
