import math

import numpy as np
import pytest

from prunelimit.limit.search import coarse_grid, find_limit

RES, COARSE, RHO_MIN = 0.001, 24, 0.0005


def _budget(lo: int, hi: int) -> int:
    return COARSE + math.ceil(math.log2(max(hi - lo, 2))) + 1


@pytest.mark.parametrize("threshold", [1, 2, 7, 57, 170, 333, 999, 1000])
def test_monotone_threshold_found_exactly_with_few_evaluations(threshold):
    calls = []

    def feasible(i):
        calls.append(i)
        return i >= threshold

    out = find_limit(feasible, RES, COARSE, RHO_MIN)
    assert out.index == threshold and math.isclose(out.rho, threshold * RES)
    assert len(calls) == len(set(calls)) == out.evaluations
    grid = coarse_grid(COARSE, RES, RHO_MIN)
    above = min(g for g in grid if g >= threshold)
    below = max([g for g in grid if g < threshold], default=0)
    assert out.evaluations <= _budget(below, above) and out.evaluations < 40


def test_non_monotone_curve():
    """Loss wiggles on both sides of the threshold without crossing it."""
    t = 0.171

    def loss(rho):
        return (2.0 + 0.8 * np.sin(90 * rho)) if rho < t else (0.5 + 0.4 * np.sin(120 * rho))

    out = find_limit(lambda i: loss(i * RES) <= 1.0, RES, COARSE, RHO_MIN)
    assert out.index == round(t / RES) and not out.isolated_feasible
    assert out.evaluations < 40


def test_isolated_feasible_points_below_the_boundary_are_reported():
    grid = coarse_grid(COARSE, RES, RHO_MIN)
    dip = grid[3]
    out = find_limit(lambda i: i >= 400 or i == dip, RES, COARSE, RHO_MIN)
    assert out.index == 400 and out.isolated_feasible == [dip * RES]


def test_unpruned_must_be_feasible():
    with pytest.raises(ValueError, match="rho = 1"):
        find_limit(lambda i: False, RES, COARSE, RHO_MIN)
