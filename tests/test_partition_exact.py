"""The exact partition of a ReLU MLP on a plane (prunelimit.partition.exact): codes against the
network, neighbours against the boundaries between them, areas, counts against a dense grid, and
hand-built networks whose lines and decision boundary are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from prunelimit.partition import polygons as pg
from prunelimit.partition.affine import NotAnMLP, affine_chain
from prunelimit.partition.codes import distinct_codes, partition_bits, predicted_classes
from prunelimit.partition.exact import (
    TooManyRegions,
    exact_partition,
    plane_basis,
    try_exact,
)
from prunelimit.partition.plane import grid_inputs, plane_classes

UNIT = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)  # x(a, b) = (a, b)


def random_mlp(n_in: int, widths: list[int], seed: int, classes: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    dims = [n_in, *widths]
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    net = nn.Sequential(*layers, nn.Linear(dims[-1], classes)).double()
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.bias.uniform_(-0.5, 0.5)  # lines through the box, not all through the origin
    return net.eval()


def random_anchors(n_in: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 2 * torch.randn(3, n_in, generator=gen, dtype=torch.float64)


# (inputs, widths, seed): 2-input and 10-input networks of 2 and 3 hidden layers, 29-78 regions
NETWORKS = [(2, [5, 4], 0), (2, [6, 5, 3], 4), (10, [8, 6], 1), (10, [7, 5, 4], 2), (10, [3, 8], 3)]


def plane_points(anchors: torch.Tensor, ab: np.ndarray) -> torch.Tensor:
    basis = plane_basis(anchors)
    x = basis[0] + ab[:, :1] * basis[1] + ab[:, 1:] * basis[2]
    return torch.from_numpy(x).reshape(len(ab), *anchors.shape[1:])


def network_bits(net: nn.Module, anchors: torch.Tensor, ab: np.ndarray) -> np.ndarray:
    """The network's whole code (codes.py: nn.ReLU inputs > 0) at the plane points ``ab``."""
    bits = partition_bits(net, plane_points(anchors, ab))
    return np.concatenate([b.numpy() for b in bits], axis=1)


def whole_codes(part) -> np.ndarray:
    return np.concatenate([part.code(i) for i in range(len(part.widths))], axis=1)


def pre_activations(net: nn.Module, anchors: torch.Tensor, ab: np.ndarray) -> np.ndarray:
    x = plane_points(anchors, ab)
    chain = affine_chain(net, x)
    pre, _ = chain.forward(x.reshape(len(x), -1).numpy())
    return np.concatenate(pre, axis=1)


def inside(poly: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(Q,) whether the points ``q`` lie strictly inside the convex polygon ``poly``."""
    edge = np.roll(poly, -1, 0) - poly
    rel = q[:, None, :] - poly[None]
    cross = edge[None, :, 0] * rel[..., 1] - edge[None, :, 1] * rel[..., 0]
    return (cross > 1e-12).all(1) | (cross < -1e-12).all(1)


@pytest.mark.parametrize(("n_in", "widths", "seed"), NETWORKS)
def test_every_region_has_the_networks_code_at_its_interior(n_in, widths, seed):
    net, anchors = random_mlp(n_in, widths, seed), random_anchors(n_in, seed)
    part = exact_partition(net, anchors)
    assert part.regions >= 29
    points = np.stack([part.polygon(i).mean(0) for i in range(part.regions)])
    assert all(inside(part.polygon(i), points[i : i + 1])[0] for i in range(part.regions))
    assert np.array_equal(whole_codes(part), network_bits(net, anchors, points))
    # a code's region is convex, so on the plane it is one polygon: no code twice
    assert len(np.unique(whole_codes(part), axis=0)) == part.regions


@pytest.mark.parametrize(("n_in", "widths", "seed"), NETWORKS)
def test_areas_tile_the_box(n_in, widths, seed):
    part = exact_partition(random_mlp(n_in, widths, seed), random_anchors(n_in, seed), margin=0.3)
    areas = part.areas()
    assert (areas > 0).all()
    assert areas.sum() == pytest.approx(1.6**2, abs=1e-9)
    for i in range(part.regions):  # convex, one orientation
        poly = part.polygon(i)
        edge = np.roll(poly, -1, 0) - poly
        turn = edge[:, 0] * np.roll(edge[:, 1], -1) - edge[:, 1] * np.roll(edge[:, 0], -1)
        assert (turn >= -1e-12).all() or (turn <= 1e-12).all()


@pytest.mark.parametrize(("n_in", "widths", "seed"), NETWORKS)
def test_neighbours_differ_exactly_in_the_units_of_their_shared_edge(n_in, widths, seed):
    """Across every edge (just outside its midpoint) lies exactly one region, and its code
    differs from this one's in exactly the units whose pre-activation is 0 on the edge."""
    net, anchors = random_mlp(n_in, widths, seed), random_anchors(n_in, seed)
    part = exact_partition(net, anchors)
    codes, polys = whole_codes(part), [part.polygon(i) for i in range(part.regions)]
    checked = 0
    for i, poly in enumerate(polys):
        ends = np.roll(poly, -1, 0)
        mid, edge = (poly + ends) / 2, ends - poly
        normal = np.stack([edge[:, 1], -edge[:, 0]], 1) / np.linalg.norm(edge, axis=1)[:, None]
        centre = poly.mean(0)
        normal *= np.sign(((mid - centre) * normal).sum(1))[:, None]  # pointing out
        across = mid + 1e-7 * normal
        keep = (np.abs(across) <= np.array([part.hi, part.hi])).all(1) & (across >= part.lo).all(1)
        zero = np.abs(pre_activations(net, anchors, mid)) < 1e-9
        for q, z in zip(across[keep], zero[keep], strict=True):
            hits = [j for j, p in enumerate(polys) if inside(p, q[None])[0]]
            assert len(hits) == 1, f"{len(hits)} regions just across an edge of region {i}"
            assert np.array_equal(codes[hits[0]] != codes[i], z)
            assert z.any()  # neighbours differ
            checked += 1
    assert checked > 2 * part.regions


@pytest.mark.parametrize("seed", [4, 9, 16])
def test_count_equals_the_dense_grid_count_once_the_grid_resolves_every_region(seed):
    net, anchors = random_mlp(2, [4, 3], seed), random_anchors(2, seed)
    part = exact_partition(net, anchors)
    assert part.areas().min() > 1e-3  # a network whose regions a fine grid can resolve
    counts = []
    for grid in (50, 400, 1500):
        x, _ = grid_inputs(anchors, grid, 0.25)
        counts.append(distinct_codes([b.numpy() for b in partition_bits(net, x)]))
    assert counts[-1] == part.regions  # distinct codes: each code's region is one polygon
    assert counts == sorted(counts)  # a coarser grid misses regions, never invents any
    assert part.regions_per_layer[-1] == part.regions


@pytest.mark.parametrize(("n_in", "widths", "seed"), NETWORKS)
def test_decision_boundary_is_where_the_top_two_logits_tie(n_in, widths, seed):
    """Each decision segment lies where its two classes tie above the others; every pair of
    neighbouring grid points of different argmax is within a grid step of a segment."""
    net, anchors = random_mlp(n_in, widths, seed), random_anchors(n_in, seed)
    with torch.no_grad():  # all classes tie at the plane's centre: a 3-way junction there
        centre = net[:-1](plane_points(anchors, np.array([[0.5, 0.5]])))
        net[-1].bias -= net[-1](centre)[0]
    part = exact_partition(net, anchors)
    assert len(np.unique(part.decision_classes)) == 3
    points = np.concatenate([part.decision.mean(1), part.decision[:, 0], part.decision[:, 1]])
    logits = net(plane_points(anchors, points)).detach().numpy()
    pairs = np.tile(part.decision_classes, (3, 1))
    tied = np.take_along_axis(logits, pairs, 1)
    assert np.abs(tied[:, 0] - tied[:, 1]).max() < 1e-9
    assert (tied.min(1) >= logits.max(1) - 1e-9).all()
    grid = 300
    x, coef = grid_inputs(anchors, grid, 0.25)
    classes = net(x).argmax(1).numpy().reshape(grid, grid)
    a, b = np.meshgrid(coef, coef, indexing="ij")
    ab = np.stack([a, b], -1)
    down = (ab[:-1] + ab[1:])[classes[:-1] != classes[1:]] / 2  # midpoints of grid edges
    across = (ab[:, :-1] + ab[:, 1:])[classes[:, :-1] != classes[:, 1:]] / 2
    changed = np.concatenate([down, across])
    assert len(changed) > grid // 2
    near = np.min([polyline_distance(changed, s) for s in part.decision], axis=0)
    assert near.max() <= (coef[1] - coef[0]) / 2 + 1e-12


def test_one_layer_of_many_lines_has_the_arrangements_count():
    """k lines in general position cut a convex box into 1 + (lines crossing it) + (crossing
    points inside it) regions (Euler); here 120 random lines, 1,820 regions."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 120), nn.ReLU(), nn.Linear(120, 2)).double()
    w, b = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    corners = np.array([[-0.25, -0.25], [1.25, -0.25], [1.25, 1.25], [-0.25, 1.25]])
    side = corners @ w.T + b
    crossing = (side.max(0) > 0) & (side.min(0) < 0)
    i, j = np.triu_indices(len(b), 1)
    det = w[i, 0] * w[j, 1] - w[i, 1] * w[j, 0]
    x = (-b[i] * w[j, 1] + b[j] * w[i, 1]) / det
    y = (-w[i, 0] * b[j] + w[j, 0] * b[i]) / det
    inside_box = ((x > -0.25) & (x < 1.25) & (y > -0.25) & (y < 1.25)).sum()
    part = exact_partition(net, UNIT)
    assert part.regions == 1 + crossing.sum() + inside_box > 1500
    assert part.dropped == 0 and len(part.segments[0]) == crossing.sum()
    counted = exact_partition(net, UNIT, geometry=False)  # the counts alone
    assert counted.regions_per_layer == part.regions_per_layer and len(counted.vertices) == 0


# Hand-built: the first layer's lines x = 0.3, y = 0.6 and x + y = 1.005 of the unit square.
LINES_W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
LINES_B = torch.tensor([-0.3, -0.6, -1.005], dtype=torch.float64)


def hand_built(out_w: list[list[float]], out_b: list[float]) -> nn.Module:
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, len(out_b))).double()
    with torch.no_grad():
        net[0].weight.copy_(LINES_W)
        net[0].bias.copy_(LINES_B)
        net[2].weight.copy_(torch.tensor(out_w, dtype=torch.float64))
        net[2].bias.copy_(torch.tensor(out_b, dtype=torch.float64))
    return net


def test_hand_built_first_layer_lines_are_exactly_the_known_lines():
    part = exact_partition(hand_built([[1.0, -1.0, 0.5], [0.0, 0.0, 0.0]], [0.0, 0.1]), UNIT, 0.0)
    assert part.regions == 7 and part.regions_per_layer == [7]
    segs, units = part.segments[0], part.segment_units[0]
    assert sorted(units.tolist()) == [0, 1, 2]  # one straight segment per line
    want = {  # each line's chord of the unit square
        0: {(0.3, 0.0), (0.3, 1.0)},
        1: {(0.0, 0.6), (1.0, 0.6)},
        2: {(0.005, 1.0), (1.0, 0.005)},
    }
    for seg, unit in zip(segs, units, strict=True):
        got = {tuple(np.round(p, 12)) for p in seg}
        assert got == want[int(unit)]
    # pruning unit 2's weights (its bias alone is a constant): its line is gone
    net = hand_built([[1.0, -1.0, 0.5], [0.0, 0.0, 0.0]], [0.0, 0.1])
    with torch.no_grad():
        net[0].weight[2] = 0.0
    pruned = exact_partition(net, UNIT, 0.0)
    assert pruned.regions == 4 and sorted(pruned.segment_units[0].tolist()) == [0, 1]


def polyline_distance(points: np.ndarray, corners: np.ndarray) -> np.ndarray:
    out = np.full(len(points), np.inf)
    for p0, p1 in zip(corners[:-1], corners[1:], strict=True):
        d = p1 - p0
        t = np.clip(((points - p0) @ d) / (d @ d), 0, 1)
        out = np.minimum(out, np.linalg.norm(points - (p0 + t[:, None] * d), axis=1))
    return out


def test_hand_built_decision_boundary_is_the_known_polyline():
    # class 0 scores relu(x - 0.3) - relu(y - 0.6), class 1 scores 0.1: the boundary is
    # x = 0.4 for y <= 0.6, then x = y - 0.2: the polyline (0.4, 0), (0.4, 0.6), (0.8, 1)
    part = exact_partition(hand_built([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]], [0.0, 0.1]), UNIT, 0.0)
    corners = np.array([[0.4, 0.0], [0.4, 0.6], [0.8, 1.0]])
    segs = part.decision
    assert (part.decision_classes == [0, 1]).all()
    assert polyline_distance(segs.reshape(-1, 2), corners).max() < 1e-12
    length = np.linalg.norm(segs[:, 1] - segs[:, 0], axis=1).sum()
    assert length == pytest.approx(0.6 + 0.4 * np.sqrt(2), abs=1e-12)  # all of it, once


def test_three_classes_tie_only_where_no_class_is_above_them():
    # hidden relu(x), relu(y) (lines on the box's edges: no cut); logits x, y and 0.5. The
    # boundary: x = y above (0.5, 0.5), x = 0.5 below it, y = 0.5 left of it; not x = y below
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 3)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        net[2].bias.copy_(torch.tensor([0.0, 0.0, 0.5]))
    part = exact_partition(net, UNIT, 0.0)
    assert part.regions == 1
    got = {
        (tuple(k), tuple(np.round(np.sort(s, axis=0).ravel(), 12)))
        for s, k in zip(part.decision, part.decision_classes, strict=True)
    }
    assert got == {
        ((0, 1), (0.5, 0.5, 1.0, 1.0)),
        ((0, 2), (0.5, 0.0, 0.5, 0.5)),
        ((1, 2), (0.0, 0.5, 0.5, 0.5)),
    }


def test_batchnorm_in_eval_mode_and_masks_follow_the_code():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Dropout(0.3), nn.Linear(5, 4),
        nn.ReLU(), nn.Linear(4, 3),
    ).double()  # fmt: skip
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
        net[1].weight.uniform_(0.5, 1.5)
        net[4].weight[:, :2] = 0.0  # pruned weights
    net.eval()
    anchors = random_anchors(6, 0)
    part = exact_partition(net, anchors)
    points = np.stack([part.polygon(i).mean(0) for i in range(part.regions)])
    assert part.regions > 5
    assert np.array_equal(whole_codes(part), network_bits(net, anchors, points))


class _Shortcut(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.relu, self.head = nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.relu(self.a(x)) + x)


class _ConvShortcut(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.relu1 = nn.Conv1d(1, 2, 3, padding=1), nn.ReLU()
        self.conv2, self.short = nn.Conv1d(2, 2, 3, padding=1), nn.Conv1d(1, 2, 1)
        self.relu2, self.flat, self.head = nn.ReLU(), nn.Flatten(), nn.Linear(16, 2)

    def forward(self, x):
        h = self.relu2(self.conv2(self.relu1(self.conv1(x))) + self.short(x))
        return self.head(self.flat(h))


def test_networks_that_are_no_chain_and_region_limits_are_refused():
    pool = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(),
                         nn.Linear(8, 2)).double()  # fmt: skip
    anchors = torch.randn(3, 1, 18, dtype=torch.float64)
    with pytest.raises(NotAnMLP, match="MaxPool1d"):
        exact_partition(pool, anchors)
    assert try_exact(pool, anchors, 0.25, None)[0] is None
    with pytest.raises(NotAnMLP, match="shortcut"):
        exact_partition(_Shortcut().double(), torch.randn(3, 4, dtype=torch.float64))
    anchors = torch.randn(3, 1, 8, dtype=torch.float64)
    with pytest.raises(NotAnMLP, match="Conv1d does not take inputs of shape"):
        exact_partition(_ConvShortcut().double(), anchors)  # its shortcut's conv meets 2 channels
    assert try_exact(_ConvShortcut().double(), anchors, 0.25, None)[0] is None
    wide = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(64 * 32 * 32, 2))  # fmt: skip
    with pytest.raises(NotAnMLP, match="3072 inputs to 65536 outputs"):
        exact_partition(wide, torch.randn(3, 3, 32, 32))
    net, anchors = random_mlp(10, [8, 6], 2), random_anchors(10, 2)
    with pytest.raises(TooManyRegions):
        exact_partition(net, anchors, max_regions=5)
    part, note = try_exact(net, anchors, 0.25, 5)
    assert part is None and "more than 5 regions" in note


def test_split_and_chord_on_a_line_through_vertices():
    verts, count = pg.box(0.0, 1.0)
    diagonal = pg.normalise(np.array([[0.0, 1.0, -1.0]]))  # x = y, through two corners
    (pos, npos), (neg, nneg) = pg.split(verts, count, diagonal, 1e-9)
    assert npos[0] == nneg[0] == 3
    assert pg.area(pos)[0] == pytest.approx(0.5) and pg.area(neg)[0] == pytest.approx(0.5)
    ends = pg.chord(verts, count, diagonal, 1e-9)[0]
    assert {tuple(p) for p in ends} == {(0.0, 0.0), (1.0, 1.0)}
    assert not pg.crossing(pg.values(verts, pg.normalise(np.array([[-1.0, 1.0, 0.0]]))), 1e-9)[0]


def test_the_environment_lowers_the_region_cap(monkeypatch):
    from prunelimit.partition.exact import try_exact

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    anchors = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    full, _ = try_exact(model, anchors, 0.25, None)
    assert full is not None and full.regions > 4
    monkeypatch.setenv("PRUNELIMIT_MAX_EXACT_REGIONS", "4")
    capped, reason = try_exact(model, anchors, 0.25, None)
    assert capped is None and "more than 4 regions" in reason


def test_plane_classes_combine_the_first_layer_and_equal_the_inputs_classes():
    """The class backdrop from three first-layer products is the classes of the grid's inputs
    (float32: all but the points within rounding of a decision boundary), for a flattened
    image MLP; a network that is no MLP takes the inputs, and so equals them exactly."""
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(48, 40), nn.ReLU(), nn.Linear(40, 30), nn.ReLU(),
                        nn.Linear(30, 5))  # fmt: skip
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16, 5))
    anchors = torch.randn(3, 3, 4, 4)
    x = grid_inputs(anchors, 60, 0.25)[0]
    for net in (mlp, conv):
        want = predicted_classes(net, x).reshape(60, 60)
        got = plane_classes(net, anchors, 60, 0.25, batch_size=1000)
        assert len(np.unique(want)) >= 2  # the plane crosses a decision boundary
        assert got.shape == (60, 60) and (got != want).mean() <= 0.002
    assert np.array_equal(plane_classes(conv, anchors, 60, 0.25), want)
    # a forward that is not its leaves in order (here: without its ReLU) fails the check at
    # the anchors and takes the inputs
    skip = nn.Sequential(nn.Flatten(), nn.Linear(48, 40), nn.ReLU(), nn.Linear(40, 5))
    skip.forward = lambda z: skip[3](skip[1](skip[0](z)))
    want = predicted_classes(skip, grid_inputs(anchors, 20, 0.25)[0]).reshape(20, 20)
    assert np.array_equal(plane_classes(skip, anchors, 20, 0.25), want)


def random_convnet(seed: int, two_d: bool = False) -> tuple[nn.Module, torch.Tensor]:
    """A small convnet (conv, BatchNorm with running statistics, ReLU, average pooling, conv,
    ReLU, Flatten, Linear) in float64 eval mode, and anchors of its input shape."""
    torch.manual_seed(seed)
    if two_d:
        net = nn.Sequential(nn.Conv2d(1, 3, 2), nn.BatchNorm2d(3), nn.ReLU(), nn.AvgPool2d(2),
                            nn.Flatten(), nn.Linear(12, 4), nn.ReLU(), nn.Linear(4, 3))  # fmt: skip
        shape = (1, 5, 5)
    else:
        net = nn.Sequential(nn.Conv1d(1, 2, 3, padding=1), nn.BatchNorm1d(2), nn.ReLU(),
                            nn.AvgPool1d(2), nn.Conv1d(2, 2, 3), nn.ReLU(), nn.Flatten(),
                            nn.Linear(4, 3))  # fmt: skip
        shape = (1, 8)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
            elif isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear):
                m.bias.uniform_(-0.5, 0.5)
    gen = torch.Generator().manual_seed(seed)
    return net.double().eval(), torch.randn(3, *shape, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize(("seed", "two_d"), [(0, False), (21, False), (2, True), (3, True)])
def test_a_convnet_is_read_as_its_chain_and_enumerated_exactly(seed, two_d):
    net, anchors = random_convnet(seed, two_d)
    x = plane_points(anchors, np.random.default_rng(seed).uniform(-0.25, 1.25, (50, 2)))
    chain = affine_chain(net, x)
    assert chain.widths == ([3 * 4 * 4, 4] if two_d else [2 * 8, 2 * 2])  # the ReLUs' units
    with torch.no_grad():
        want = net(x).numpy()
    assert np.allclose(chain.forward(x.reshape(len(x), -1).numpy())[1], want, atol=1e-12)
    part = exact_partition(net, anchors)
    points = np.stack([part.polygon(i).mean(0) for i in range(part.regions)])
    assert part.regions > 10
    assert np.array_equal(whole_codes(part), network_bits(net, anchors, points))
    assert part.areas().sum() == pytest.approx(1.5**2, abs=1e-9)
    if seed == 21:  # regions of 5e-4 at least: a 1500 x 1500 grid meets every one
        assert part.areas().min() > 5e-4
        grid_x, _ = grid_inputs(anchors, 1500, 0.25)
        assert distinct_codes([b.numpy() for b in partition_bits(net, grid_x)]) == part.regions
