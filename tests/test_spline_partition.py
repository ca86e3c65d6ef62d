"""The partition and decision boundary on the input plane: a hand-built 2-D ReLU network whose
lines are known (on the grid), and the partition of an MLP pruned to kept ratios around the
limit and by nodes (exact and on the grid), with its figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from prunelimit.models.networks import MLP
from prunelimit.partition.exact import exact_partition
from prunelimit.partition.plane import (
    boundary_map,
    grid_inputs,
    grid_partition,
    watch_anchors,
    watch_inputs,
)
from prunelimit.plotting.partition import panel_segments
from prunelimit.pruning import count_prunable, prunable_weights
from prunelimit.spline.partition import NODES_PRUNED, partition_at_limit, partition_ratios

# Hidden ReLU i is w_i . x + b_i: the lines x = 0.3, y = 0.6 and x + y = 1.005 of the unit square.
LINES_W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
LINES_B = torch.tensor([-0.3, -0.6, -1.005])
# The plane is the (x, y) plane itself: anchors (0, 0), (1, 0), (0, 1) and no margin.
ANCHORS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
GRID = 50  # step 1/49: no grid point lies on a line (it would be a tie of the sign)


def hand_built(out_w: list[list[float]], out_b: list[float]) -> nn.Module:
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, len(out_b))).double()
    with torch.no_grad():
        net[0].weight.copy_(LINES_W)
        net[0].bias.copy_(LINES_B)
        net[2].weight.copy_(torch.tensor(out_w))
        net[2].bias.copy_(torch.tensor(out_b))
    return net


def plane(grid: int = GRID) -> tuple[torch.Tensor, np.ndarray, float]:
    x, coef = grid_inputs(ANCHORS, grid=grid, margin=0.0)
    return x, coef, float(coef[1] - coef[0])


def line_distance(x: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    return np.abs(x @ w + b) / np.linalg.norm(w)


def test_partition_boundary_is_the_known_lines():
    x, _, step = plane()
    part = grid_partition(hand_built([[1.0, -1.0, 0.5], [0.0, 0.0, 0.0]], [0.0, 0.1]), x, GRID)
    pts = x.numpy().reshape(GRID, GRID, 2)
    flagged = pts[part["boundary"]]
    lines = list(zip(LINES_W.numpy(), LINES_B.numpy(), strict=True))
    dist = np.stack([line_distance(flagged, w, b) for w, b in lines])
    assert len(flagged) > 0
    assert (dist.min(0) <= step + 1e-9).all()  # every flagged point is at a known line
    for i, (w, b) in enumerate(lines):
        # every neighbour pair that the line separates is flagged, and the layer's map is
        # exactly the union of its units' lines (one ReLU layer here)
        side = (pts @ w + b > 0)[..., None]
        crossed = boundary_map(side)
        assert crossed.sum() >= GRID // 2, f"line {i} crosses the square"
        assert part["boundary"][crossed].all(), f"line {i} not detected everywhere"
    union = np.zeros((GRID, GRID), dtype=bool)
    for w, b in lines:
        union |= boundary_map((pts @ w + b > 0)[..., None])
    assert np.array_equal(part["layer_boundaries"][0], union)
    assert np.array_equal(part["boundary"], union)
    # The three lines cut the unit square into 7 regions, each of them seen on the grid
    assert part["regions"] == 7 and part["regions_per_layer"] == [7]


def test_decision_boundary_is_the_known_polyline():
    # class 0 scores relu(x - 0.3) - relu(y - 0.6), class 1 scores 0.1: class 0 wins right of
    # x = 0.4 (for y <= 0.6) and right of x = y - 0.2 (for y >= 0.6)
    x, _, step = plane()
    part = grid_partition(hand_built([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]], [0.0, 0.1]), x, GRID)
    pts = x.numpy().reshape(GRID, GRID, 2)
    want = np.where(pts[..., 1] <= 0.6, pts[..., 0] > 0.4, pts[..., 0] > pts[..., 1] - 0.2)
    assert np.array_equal(part["classes"], np.where(want, 0, 1))
    flagged = pts[part["decision"]]
    low = line_distance(flagged, np.array([1.0, 0.0]), -0.4) + np.maximum(flagged[:, 1] - 0.6, 0)
    high = line_distance(flagged, np.array([1.0, -1.0]), 0.2) + np.maximum(0.6 - flagged[:, 1], 0)
    assert (np.minimum(low, high) <= step + 1e-9).all()
    # detected along the whole polyline: on every row of constant y that it crosses
    rows = part["decision"].any(0)  # (grid,) over b, the y coordinate
    assert rows.all()
    assert np.array_equal(part["decision"], boundary_map(want[..., None]))


def test_boundary_map_orientation():
    labels = np.zeros((4, 5), dtype=int)
    labels[2:, :] = 1  # a change between rows 1 and 2 (along a)
    got = boundary_map(labels)
    assert got[1].all() and got.sum() == 5
    got = boundary_map(labels.T.copy())  # the same change along b
    assert got[:, 1].all() and got.sum() == 5


def test_partition_ratios_labels_and_caps():
    pts = partition_ratios(0.6, 0.2)
    assert [label for label, _ in pts] == [
        "unpruned",
        "2 rho_th",
        "rho_th",
        "rho_loss",
        "rho_loss / 2",
    ]
    assert [r for _, r in pts] == [1.0, 1.0, 0.6, 0.2, 0.1]
    assert [label for label, _ in partition_ratios(0.1, None)] == ["unpruned", "2 rho_th", "rho_th"]
    # in decreasing rho: the actual limit above the theory's here
    assert [label for label, _ in partition_ratios(0.3, 0.7)] == [
        "unpruned",
        "rho_loss",
        "2 rho_th",
        "rho_loss / 2",
        "rho_th",
    ]


@pytest.fixture(scope="module")
def at_limit(mnist1d):
    torch.manual_seed(0)
    model = MLP(tuple(mnist1d.train.x.shape[1:]), 10, (32, 16))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    record, arrays = partition_at_limit("t", mnist1d, model, 0.3, 0.1, grid=12, margin=0.25, seed=0)
    return model, before, record, arrays


def test_partition_at_limit_prunes_globally_and_restores(mnist1d, at_limit):
    model, before, record, arrays = at_limit
    D = count_prunable(model)
    weights = [p for p in record["points"] if p["pruning"] == "weights"]
    assert [p["kept"] for p in weights] == [
        D,
        round(0.6 * D),
        round(0.3 * D),
        round(0.1 * D),
        round(0.05 * D),
    ]
    panels = 5 + len(NODES_PRUNED)
    assert arrays["layer_boundaries"].shape == (panels, 2, 12, 12)
    assert arrays["classes"].shape == arrays["decision"].shape == (panels, 12, 12)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # restored
    # the entry at rho_th is the network with its 30 % largest |w| kept, pruned here directly
    flat = torch.cat([w.detach().abs().reshape(-1) for w in prunable_weights(model).values()])
    threshold = flat.sort(descending=True).values[round(0.3 * D) - 1]
    pruned = MLP(tuple(mnist1d.train.x.shape[1:]), 10, (32, 16))
    pruned.load_state_dict(model.state_dict())
    with torch.no_grad():
        for w in prunable_weights(pruned).values():
            w.mul_(w.abs() >= threshold)
    direct = grid_partition(pruned, watch_inputs(mnist1d, 12, 0.25), 12)
    assert np.array_equal(direct["layer_boundaries"], arrays["layer_boundaries"][2])
    assert direct["regions"] == record["points"][2]["grid_regions"]
    exact = exact_partition(pruned, watch_anchors(mnist1d), 0.25)
    assert exact.regions == record["points"][2]["regions"] > direct["regions"]
    assert exact.regions_per_layer == record["points"][2]["regions_per_layer"]
    layers, decision = panel_segments(arrays, 2)
    assert [len(s) for s in layers] == [len(s) for s in exact.segments]
    np.testing.assert_allclose(decision, exact.decision, atol=1e-6)  # float32 in the npz


def test_node_panels_remove_the_nodes_of_smallest_incoming_norm(mnist1d, at_limit):
    model, _, record, arrays = at_limit
    nodes = [(i, p) for i, p in enumerate(record["points"]) if p["pruning"] == "nodes"]
    assert [p["label"] for _, p in nodes] == [
        f"{100 * f:.0f} % of nodes pruned" for f in NODES_PRUNED
    ]
    i, p = nodes[1]  # 40 % of the nodes of each layer gone: 19 of 32, 10 of 16 kept
    assert p["nodes_kept"] == (19 + 10) / 48
    pruned = MLP(tuple(mnist1d.train.x.shape[1:]), 10, (32, 16))
    pruned.load_state_dict(model.state_dict())
    with torch.no_grad():
        for layer, keep in ((pruned.net[1], 19), (pruned.net[3], 10)):
            gone = layer.weight.norm(dim=1).argsort()[: len(layer.bias) - keep]
            layer.weight[gone] = 0.0
            layer.bias[gone] = 0.0
    exact = exact_partition(pruned, watch_anchors(mnist1d), 0.25)
    assert exact.regions == p["regions"]
    # no boundary of a removed node: 19 units of layer 1 at most draw lines
    layers, _ = panel_segments(arrays, i)
    assert len(layers[0]) <= 19 and len(layers[0]) == len(exact.segments[0])
    regions = [q["regions"] for _, q in nodes]
    assert regions == sorted(regions, reverse=True)  # fewer nodes, fewer regions here


def test_partition_figure_draws_the_exact_segments_and_falls_back_to_the_grid(at_limit):
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.text import Text

    from prunelimit.plotting.partition import partition

    _, _, record, arrays = at_limit
    fig = partition([record], [arrays])
    drawn = sum(len(c.get_segments()) for c in fig.findobj(LineCollection))
    total = sum(len(arrays[k]) for k in arrays if k.endswith("_segments"))
    assert drawn == total > 0
    titles = [t.get_text() for t in fig.findobj(Text)]
    first = record["points"][0]
    assert any(f"{first['regions']:,} regions ({first['grid_regions']:,})" in s for s in titles)
    plt.close(fig)
    old = {k: v for k, v in arrays.items() if k != "exact" and "_segments" not in k}
    fig = partition([record], [old])  # an npz from before the exact partition
    assert not fig.findobj(LineCollection)
    notes = [n for t in fig.findobj(Text) for n in getattr(t, "prunelimit_notes", [])]
    assert any(
        "grid points, not lines" in n for n in notes + [t.get_text() for t in fig.findobj(Text)]
    )
    plt.close(fig)


@pytest.mark.parametrize("grid", [2, 5])
def test_constant_network_has_no_boundary(grid):
    net = hand_built([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [1.0, 0.0])
    with torch.no_grad():
        net[0].weight.zero_()
    x, _, _ = plane(grid)
    part = grid_partition(net, x, grid)
    assert not part["boundary"].any() and not part["decision"].any()
    assert part["regions"] == 1


def test_grid_panels_draw_two_layers_and_leave_out_saturated_ones():
    from prunelimit.plotting.partition import grid_layers

    maps = np.zeros((3, 10, 10), dtype=bool)
    maps[0, :3] = True  # 30 % of the points: drawn
    maps[1, :9] = True  # 90 %: a solid block, left out
    maps[2] = True  # a third layer: beyond the two drawn
    shown, said = grid_layers(maps)
    assert shown.shape == (2, 10, 10)
    assert (shown[0] == maps[0]).all() and not shown[1].any()
    assert "layer 2 at 90 %" in said and "layer 1" not in said
    assert maps[1].sum() == 90  # the record's arrays are left as they were
    one, none = grid_layers(maps[:1])
    assert none == "" and (one == maps[:1]).all()


def test_a_convnet_is_enumerated_exactly_and_takes_its_backdrop_from_the_grid(mnist1d):
    from torch import nn

    torch.manual_seed(0)
    channels, width = mnist1d.train.x.shape[1:]  # (1, 40)
    model = nn.Sequential(
        nn.Conv1d(channels, 2, 3, padding=1), nn.BatchNorm1d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(2 * width, 10),
    ).eval()  # fmt: skip
    record, arrays = partition_at_limit("c", mnist1d, model, 0.3, 0.1, grid=12, margin=0.25, seed=0)
    points = record["points"]
    assert all(p["regions"] >= p["grid_regions"] > 1 and not p["exact_note"] for p in points)
    assert arrays["exact"].all() and len(arrays["layer1_segments"]) > 0
    # no 300 x 300 forward passes: the grid's own classes stand behind the lines
    assert arrays["backdrop"].shape == arrays["classes"].shape == (len(record["points"]), 12, 12)
    assert (arrays["backdrop"] == arrays["classes"]).all()
