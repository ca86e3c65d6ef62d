"""Spline trajectories: the partition at each recorded epoch, kept by the recorder."""

import numpy as np
import torch

from prunelimit.models.registry import build_model
from prunelimit.partition.plane import grid_inputs, grid_partition
from prunelimit.plotting.spline import snapshot_epochs
from prunelimit.spline.tickets import CodeRecorder
from prunelimit.spline.trajectory import trajectory_arrays


def test_trajectory_equals_the_partition_of_each_epochs_network():
    """The recorder's trajectory has each epoch's per-layer boundaries and region count exactly
    as the direct partition of that epoch's network (:func:`grid_partition`), and ``moved`` is
    the share of grid points whose boundary flag changed; also where the distances read a
    subset of the units (the trajectory reads the whole code)."""
    torch.manual_seed(0)
    grid = 12
    x, _ = grid_inputs(torch.randn(3, 1, 10), grid=grid, margin=0.25)
    nets = [build_model("mlp", (1, 10), 3, seed=s, widths=(7, 5)) for s in (0, 1, 1)]
    with torch.no_grad():  # the third epoch: the second network with its second layer shifted
        nets[2].net[3].bias.add_(0.5)
    recorder = CodeRecorder(x, threshold=0.0, window=1, grid=grid, max_layer_bits=3 * grid**2)
    for epoch, net in enumerate(nets):
        recorder(epoch, net)
    assert recorder.sizes == [3 * grid**2, 3 * grid**2]  # 3 of 7 and of 5 units for distances
    path = recorder.trajectory()
    direct = [grid_partition(net, x, grid) for net in nets]
    assert path["epochs"].tolist() == [0, 1, 2]
    assert path["layer_boundaries"].shape == (3, 2, grid, grid)
    for e, d in enumerate(direct):
        assert np.array_equal(path["layer_boundaries"][e], d["layer_boundaries"])
        assert path["regions"][e] == d["regions"]
    moved = [(direct[e]["boundary"] != direct[e - 1]["boundary"]).mean() for e in (1, 2)]
    assert path["moved"].tolist() == [0.0, *moved]
    assert moved[0] > 0  # another network: another partition
    # layer 1 is the same network in epochs 1 and 2: only layer 2's boundaries moved
    assert np.array_equal(path["layer_boundaries"][1, 0], path["layer_boundaries"][2, 0])
    assert not np.array_equal(path["layer_boundaries"][1, 1], path["layer_boundaries"][2, 1])


def test_a_watch_file_without_a_trajectory_gives_zero_epochs():
    arrays = trajectory_arrays({"code_bits_per_layer": [10, 20], "margin": 0.5}, grid=4)
    assert arrays["layer_boundaries"].shape == (0, 2, 4, 4) and len(arrays["epochs"]) == 0
    assert np.allclose(arrays["coef"], [-0.5, 0.1666667, 0.8333333, 1.5])  # grid_inputs' values


def test_snapshots_take_the_start_the_early_bird_and_the_end():
    assert snapshot_epochs(list(range(21)), 7) == [0, 1, 2, 7, 20]
    assert snapshot_epochs(list(range(21)), None) == [0, 1, 2, 10, 20]
    assert snapshot_epochs([0, 1], None) == [0, 1]
    assert snapshot_epochs([], 3) == []
