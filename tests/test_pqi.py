"""PQ Index: the six sparsity properties (D1-D4, P1, P2), sanity values, masks and scopes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from prunelimit.sap.pqi import DEFAULT_PQ, pq_bound, pq_index, pq_index_rows, pqi_report

PQ = pytest.mark.parametrize(("p", "q"), DEFAULT_PQ)
vectors = st.lists(st.floats(0.01, 100.0, allow_nan=False), min_size=2, max_size=50)
SETTINGS = settings(max_examples=150, deadline=None)


def S(values, p: float, q: float) -> float:  # noqa: N802 - the papers' name
    return pq_index(torch.tensor(values, dtype=torch.float64), p, q)


def spread(w: list[float]) -> float:
    return (max(w) - min(w)) / max(w)


@PQ
@SETTINGS
@given(w=vectors, data=st.data())
def test_d1_robin_hood(p, q, w, data):
    i = data.draw(st.integers(0, len(w) - 1))
    j = data.draw(st.integers(0, len(w) - 1))
    assume(w[i] - w[j] > 0.01 * max(w))
    alpha = data.draw(st.floats(0.05, 0.95)) * (w[i] - w[j]) / 2
    v = list(w)
    v[i] -= alpha
    v[j] += alpha
    assert S(v, p, q) < S(w, p, q)


@PQ
@SETTINGS
@given(w=vectors, alpha=st.floats(0.01, 100.0))
def test_d2_scaling(p, q, w, alpha):
    assert S([alpha * x for x in w], p, q) == pytest.approx(S(w, p, q), abs=1e-12)


@PQ
@SETTINGS
@given(w=vectors, alpha=st.floats(0.01, 100.0))
def test_d3_rising_tide(p, q, w, alpha):
    assume(spread(w) > 0.01)
    assert S([x + alpha for x in w], p, q) < S(w, p, q)


@PQ
@SETTINGS
@given(w=vectors, copies=st.integers(2, 4))
def test_d4_cloning(p, q, w, copies):
    assert S(w * copies, p, q) == pytest.approx(S(w, p, q), abs=1e-12)


@PQ
@SETTINGS
@given(w=vectors, data=st.data())
def test_p1_bill_gates(p, q, w, data):
    i = data.draw(st.integers(0, len(w) - 1))
    beta = 100.0 * len(w) * max(w)  # past this, making the rich richer only adds sparsity
    alpha = data.draw(st.floats(1.0, 1e4)) * max(w)
    rich, richer = list(w), list(w)
    rich[i] += beta
    richer[i] += beta + alpha
    assert S(richer, p, q) > S(rich, p, q)


@PQ
@SETTINGS
@given(w=vectors, zeros=st.integers(1, 5))
def test_p2_babies(p, q, w, zeros):
    assert S(w + [0.0] * zeros, p, q) > S(w, p, q)


@PQ
@SETTINGS
@given(w=vectors)
def test_range_and_sign_invariance(p, q, w):
    d = len(w)
    value = S(w, p, q)
    assert -1e-12 <= value <= 1 - d ** (1 / q - 1 / p) + 1e-12
    signs = [(-1) ** k for k in range(d)]
    assert S([s * x for s, x in zip(signs, w, strict=True)], p, q) == pytest.approx(value)


@PQ
@pytest.mark.parametrize("d", [1, 2, 7, 100, 10_000])
def test_sanity_values(p, q, d):
    assert S([3.5] * d, p, q) == pytest.approx(0.0, abs=1e-12)
    one_hot = [0.0] * d
    one_hot[d // 2] = -2.0
    assert S(one_hot, p, q) == pytest.approx(1 - d ** (1 / q - 1 / p), abs=1e-12)


@PQ
def test_explicit_value_and_undefined(p, q):
    w = np.array([1.0, 2.0, 0.0, 4.0])
    norm = lambda r: (np.abs(w) ** r).sum() ** (1 / r)  # noqa: E731
    expected = 1 - 4 ** (1 / q - 1 / p) * norm(p) / norm(q)
    assert S(w.tolist(), p, q) == pytest.approx(expected, rel=1e-12)
    assert math.isnan(S([0.0, 0.0, 0.0], p, q))
    assert math.isnan(pq_index(torch.ones(3), p, q, torch.zeros(3, dtype=torch.bool)))
    # extreme scales do not under- or overflow
    assert S((w * 1e-30).tolist(), p, q) == pytest.approx(expected, rel=1e-9)
    assert S((w * 1e30).tolist(), p, q) == pytest.approx(expected, rel=1e-9)


def test_invalid_pq():
    with pytest.raises(ValueError):
        pq_index(torch.ones(3), 1.0, 1.0)
    with pytest.raises(ValueError):
        pq_index(torch.ones(3), 2.0, 1.0)


@PQ
def test_mask_selects_surviving_entries(p, q):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, 9, generator=g)
    mask = torch.rand(6, 9, generator=g) < 0.5
    assert pq_index(w, p, q, mask) == pytest.approx(pq_index(w[mask], p, q), rel=1e-12)
    # pruned entries do not count even if the weight there is not zero
    rows = pq_index_rows(w, p, q, mask)
    for i in range(6):
        assert rows[i].item() == pytest.approx(pq_index(w[i][mask[i]], p, q), rel=1e-12)
    assert torch.allclose(
        pq_index_rows(w, p, q),
        torch.tensor([pq_index(w[i], p, q) for i in range(6)], dtype=torch.float64),
    )


def test_bound_formula():
    d, index, p, q, eta = 1000, 0.3, 0.5, 1.0, 0.1
    expected = d * (1 + eta) ** (-q / (q - p)) * (1 - index) ** (q * p / (q - p))
    assert pq_bound(d, index, p, q, eta) == pytest.approx(expected)
    assert pq_bound(d, 0.0, p, q) == pytest.approx(d)  # a flat vector: keep everything


@PQ
def test_report_scopes(p, q):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Flatten(), nn.Linear(4 * 6, 5))
    weights = {"0.weight": model[0].weight.detach(), "2.weight": model[2].weight.detach()}
    masks = {k: torch.rand_like(v) < 0.6 for k, v in weights.items()}
    rep = pqi_report(model, masks, p, q)
    flat = torch.cat([v[masks[k]] for k, v in weights.items()])
    assert rep["global"] == pytest.approx(pq_index(flat, p, q), rel=1e-12)
    for k, v in weights.items():
        assert rep["layer"][k] == pytest.approx(pq_index(v[masks[k]], p, q), rel=1e-12)
        rows = [pq_index(v[i][masks[k][i]], p, q) for i in range(v.shape[0])]
        assert rep["neuron_layer_mean"][k] == pytest.approx(np.nanmean(rows), rel=1e-12)
    assert rep["layer_mean"] == pytest.approx(np.mean(list(rep["layer"].values())))
    unmasked = pqi_report(weights, None, p, q)
    assert unmasked["global"] == pytest.approx(
        pq_index(torch.cat([v.reshape(-1) for v in weights.values()]), p, q)
    )
