"""The Hessian rows of the weights at the magnitude thresholds (Zhang et al.'s appendix figure)."""

import numpy as np
import pytest
import torch

from prunelimit.curvature.operator import HessianOperator
from prunelimit.limit.hessian_rows import hessian_rows, threshold_indices, threshold_ranks
from prunelimit.models.registry import build_model
from prunelimit.pruning import flat_prunable


@pytest.fixture
def problem():
    torch.manual_seed(0)
    model = build_model("mlp", (1, 10), 3, seed=0, widths=(12, 8))
    x, y = torch.randn(200, 1, 10), torch.randint(0, 3, (200,))
    return model, x, y


def test_threshold_weights_are_the_smallest_kept_at_each_kept_ratio():
    w = torch.tensor([0.5, -0.1, 0.3, -0.7, 0.2, 0.05, -0.4, 0.6, 0.9, -0.25])
    q, idx = threshold_indices(w, 5)
    assert np.allclose(q, [0.0, 0.2, 0.4, 0.6, 0.8])
    # ascending |w|: 0.05 (5), 0.1 (1), 0.2 (4), 0.25 (9), 0.3 (2), 0.4 (6), 0.5 (0), 0.6 (7), ...
    assert idx.tolist() == [5, 4, 2, 0, 3]
    for qi, i in zip(q, idx, strict=True):  # pruning the q D smallest keeps w_i, the smallest kept
        kept = w.abs() >= w[i].abs()
        assert int(kept.sum()) == len(w) - round(qi * len(w))
    with pytest.raises(ValueError, match="count must be >= 1"):
        threshold_indices(w, 0)
    assert threshold_ranks(100, 100)[29] == 29  # floor(0.29 * 100) in floats is 28


def test_rows_match_the_exact_hessian(problem):
    model, x, y = problem
    op = HessianOperator(model, x, y, batch_size=64)
    H = torch.autograd.functional.hessian(
        lambda f: op._loss(op.unflatten(f), x, y), op.flatten(op.w0)
    ).double()
    w = flat_prunable(model)
    out = hessian_rows(op, w, count=7, block=3)
    idx = out["index"]
    assert np.allclose(out["row_l1"], H[idx].abs().sum(dim=1).numpy(), rtol=1e-4)
    assert np.allclose(out["diagonal"], H[idx, idx].numpy(), rtol=1e-4, atol=1e-7)
    assert np.allclose(out["magnitude"], w.abs()[idx].double().numpy())
    assert out["n_hvp"] == 7 and out["D"] == op.D and out["samples"] == 200
    assert out["magnitude"] == sorted(out["magnitude"])  # in the magnitude order
    assert out["rank"] == [k * op.D // 7 for k in range(7)]
    with pytest.raises(ValueError, match="entries, the Hessian operator"):
        hessian_rows(op, w[:-1], count=2)
