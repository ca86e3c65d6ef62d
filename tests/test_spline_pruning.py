"""Node pruning at the spline early bird (You et al.): the spline criterion, the node baselines,
the cost count, the driver, the table and figure, and the rules on the tiny config."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
import yaml
from torch import nn

import prunelimit.methods.early_bird as early_bird_mod
from conftest import REPO, bn_convnet, run_snakemake, toy_splits
from prunelimit.config.settings import TrainSettings
from prunelimit.methods.early_bird import (
    UNPRUNED,
    EarlyBirdContext,
    early_bird_context,
    node_plan,
    prune_at_early_bird,
    training_flops,
)
from prunelimit.methods.nodes import NODE_METHODS, get_node_method
from prunelimit.models.registry import build_model
from prunelimit.pruning import apply_masks
from prunelimit.spline.nodes import (
    hyperplanes,
    node_layers,
    node_param_masks,
    output_positions,
    structure,
)
from prunelimit.spline.pruning import (
    chance_steps,
    magnitude_scores,
    plane_distances,
    random_scores,
    redundancy_order,
    select_nodes,
    slimming_scores,
    spline_scores,
)

E1, E2, E3 = torch.eye(3)


def mlp_with_rows(rows: list[torch.Tensor], biases: list[float], bn: bool = False) -> nn.Module:
    """``Linear(3, n)`` with the given rows and biases ([BatchNorm], ReLU), then
    ``Linear(n, 2)``: one node layer."""
    n = len(rows)
    first = nn.Linear(3, n)
    with torch.no_grad():
        first.weight.copy_(torch.stack(rows))
        first.bias.copy_(torch.tensor(biases))
    mods = [first, *([nn.BatchNorm1d(n)] if bn else []), nn.ReLU(), nn.Linear(n, 2)]
    return nn.Sequential(*mods).eval()


def kept_of(model: nn.Module, fraction: float, scope: str = "layer") -> list[int]:
    layers = node_layers(model)
    kept = select_nodes(spline_scores(model, layers, scope), fraction, scope)
    return kept[layers[0].name].nonzero().flatten().tolist()


def test_of_two_duplicated_nodes_one_is_pruned_not_a_distinct_boundary():
    # n0 and n1 draw the same hyperplane (n1 = 3 n0); n3 nearly n2's, negated; n4 stands alone
    rows = [E1, 3 * E1, E2 + 0.3 * E3, -E2 - 0.25 * E3, E3]
    model = mlp_with_rows(rows, [0.5, 1.5, 0.0, 0.0, -1.0])
    assert kept_of(model, 0.8) == [1, 2, 3, 4]  # one twin goes (the earlier), nothing else
    # greedy: with n0 gone n1 is alone with its boundary; next the near pair loses one (a
    # one-shot ranking by the nearest distance would prune both twins first)
    assert kept_of(model, 0.6) == [1, 3, 4]


def test_the_criterion_sees_the_hyperplanes_after_the_batchnorm():
    # raw rows: n0 = n1 and n2 != n3; folded: n1's BatchNorm shifts its bias away from n0's,
    # n3's scale (gamma 2, running var 4) makes 2 e2 the same hyperplane as n2's e2
    rows, biases = [E1, E1, E2, 2 * E2], [0.0, 0.0, 1.0, 2.0]
    model = mlp_with_rows(rows, biases, bn=True)
    bn = model[1]
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.0, 5.0, 0.0, 0.0]))
        bn.running_var.copy_(torch.tensor([1.0, 1.0, 1.0, 4.0]) - bn.eps)
        bn.weight.copy_(torch.tensor([1.0, 1.0, 1.0, 2.0]))
    assert kept_of(model, 0.75) == [0, 1, 3]


def test_layer_wise_keeps_the_same_fraction_per_layer_global_need_not():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 12), nn.ReLU(), nn.Linear(12, 2)
    )
    with torch.no_grad():  # the first layer: six distinct hyperplanes, each twice (scaled)
        base = torch.randn(6, 7)
        model[0].weight.copy_(torch.cat([base[:, :6], 2 * base[:, :6]]))
        model[0].bias.copy_(torch.cat([base[:, 6], 2 * base[:, 6]]))
    layers = node_layers(model)

    def counts(fraction: float, scope: str) -> tuple[list[int], dict]:
        kept = select_nodes(spline_scores(model, layers, scope), fraction, scope)
        return [int(kept[layer.name].sum()) for layer in layers], kept

    assert counts(0.75, "layer")[0] == [9, 9] and counts(0.3, "layer")[0] == [4, 4]
    # global: the six twins go first, all from the first layer, one of each pair
    found, kept = counts(0.75, "global")
    assert found == [6, 12] and kept["0"].view(2, 6).sum(0).tolist() == [1] * 6
    assert sum(counts(0.3, "global")[0]) == 7


def test_global_measures_each_layer_in_units_of_chance():
    """Random hyperplanes in a narrow and in a wide layer: in units of chance, global pruning
    takes about half of each at half the nodes, where one raw order empties the narrow layer
    first; a twin planted in the wide layer still goes first of all."""
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)
    )
    with torch.no_grad():  # isotropic [w | b] rows: the chance order's own model
        for layer in (model[0], model[2]):
            layer.weight.normal_()
            layer.bias.normal_()
        model[2].weight[1] = 2 * model[2].weight[0]  # a twin in the wide layer
        model[2].bias[1] = 2 * model[2].bias[0]
    layers = node_layers(model)
    raw = redundancy_order([plane_distances(hyperplanes(model, layer)) for layer in layers])
    assert (raw[0][0] < 64).sum() >= 60  # one raw order: the narrow layer's nodes first
    assert chance_steps(64, 5)[0] < 0.5 * chance_steps(64, 65)[0]
    scores = spline_scores(model, layers, "global")
    kept = select_nodes(scores, 0.5, "global")
    narrow, wide = (int(kept[layer.name].sum()) for layer in layers)
    assert 26 <= narrow <= 38 and narrow + wide == 64
    assert scores[layers[1].name][:2].min() == 0  # the twin pair: the first pruned of all 128
    for layer in layers:  # each layer's nodes go in its layer-wise order
        alone = spline_scores(model, [layer], "layer")[layer.name]
        assert torch.equal(scores[layer.name].argsort(), alone.argsort())


def test_global_keeps_at_least_one_node_per_layer():
    scores = {"a": torch.tensor([0.1, 0.2, 0.3]), "b": torch.tensor([5.0, 6.0, 7.0, 8.0])}
    kept = select_nodes(scores, 0.3, "global")  # round(0.3 * 7) = 2 kept: one per layer
    assert kept["a"].tolist() == [False, False, True] and kept["b"].tolist() == [0, 0, 0, 1]
    kept = select_nodes(scores, 0.5, "global")  # 4 kept: a's best, then b's three largest
    assert kept["a"].sum() == 1 and kept["b"].tolist() == [False, True, True, True]


def test_magnitude_node_pruning_picks_the_smallest_rows():
    rows = [3 * E1, 0.5 * E2, E3 + E2, 0.1 * E1, 2 * E2]
    model = mlp_with_rows(rows, [9.0, 0.0, 0.0, 0.0, 0.0])  # the bias does not count
    layers = node_layers(model)
    norms = magnitude_scores(model, layers)["0"]
    assert torch.allclose(norms, torch.tensor([3, 0.5, math.sqrt(2), 0.1, 2], dtype=torch.float64))
    kept = select_nodes(magnitude_scores(model, layers), 0.6, "layer")["0"]
    assert kept.tolist() == [True, False, True, False, True]


def test_slimming_picks_the_smallest_gamma_and_needs_batchnorm():
    model = mlp_with_rows([E1, E2, E3, E1 + E2], [0.0] * 4, bn=True)
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([0.3, -2.0, 0.05, 1.0]))
    layers = node_layers(model)
    kept = select_nodes(slimming_scores(model, layers), 0.5, "layer")["0"]
    assert kept.tolist() == [False, True, False, True]  # |gamma| 2 and 1 stay
    plain = mlp_with_rows([E1, E2], [0.0, 0.0])
    with pytest.raises(ValueError, match="BatchNorm"):
        slimming_scores(plain, node_layers(plain))
    runs, skipped = node_plan(["spline", "slimming"], ["layer"], [0.5], batchnorm=False)
    assert skipped == ["slimming"] and runs == [UNPRUNED, ("spline", "layer", 0.5)]


def test_random_scores_are_seeded_and_the_registry_matches_the_schema():
    layers = node_layers(mlp_with_rows([E1, E2, E3], [0.0] * 3))
    assert torch.equal(random_scores(layers, 4)["0"], random_scores(layers, 4)["0"])
    assert not torch.equal(random_scores(layers, 4)["0"], random_scores(layers, 5)["0"])
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    block = schema["properties"]["spline"]["properties"]["pruning"]["properties"]
    assert set(block["methods"]["items"]["enum"]) == set(NODE_METHODS)
    with pytest.raises(ValueError, match="spline"):
        get_node_method("nodes")


def test_pruned_nodes_output_zero_and_their_mask_covers_bias_and_batchnorm():
    model = build_model("vgg16", (3, 8, 8), 4, seed=0).train()
    layers = node_layers(model)
    assert len(layers) == 13 and all(layer.bn for layer in layers)
    kept = select_nodes(random_scores(layers, 0), 0.5, "layer")
    masks = node_param_masks(model, layers, kept)
    first = layers[0]
    assert set(masks) >= {f"{first.name}.weight", f"{first.bn}.weight", f"{first.bn}.bias"}
    apply_masks(model, masks)
    feats = model.features[:3](torch.randn(5, 3, 8, 8))  # conv, BatchNorm (batch stats), ReLU
    assert (feats[:, ~kept[first.name]] == 0).all()


def test_flops_and_kept_weights_of_hand_sized_networks():
    mlp = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
    layers = node_layers(mlp)
    pos = output_positions(mlp, (10,))
    assert structure(mlp, layers, None, pos) == {
        "kept_nodes": 14, "nodes": 14, "kept_weights": 146, "weights": 146, "forward_flops": 292
    }  # fmt: skip
    kept = {"0": torch.tensor([1, 1, 1, 1, 0, 0, 0, 0]).bool(), "2": torch.arange(6) < 3}
    # 10 x 4 + 4 x 3 + 3 x 3 = 61 MACs
    assert structure(mlp, layers, kept, pos)["forward_flops"] == 122
    assert structure(mlp, layers, kept, pos)["kept_weights"] == 61
    conv = nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1), nn.BatchNorm1d(4), nn.ReLU(),
        nn.Conv1d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 8, 3),
    )  # fmt: skip
    layers = node_layers(conv)
    assert [(ly.name, ly.bn, ly.consumer) for ly in layers] == [("0", "1", "3"), ("3", None, "6")]
    pos = output_positions(conv, (2, 8))
    # 8 positions x (4 x 2 x 3 + 6 x 4 x 3) + 48 x 3 = 192 + 576 + 144 = 912 MACs
    assert structure(conv, layers, None, pos)["forward_flops"] == 2 * 912
    kept = {"0": torch.arange(4) < 2, "3": torch.arange(6) < 3}
    # 8 x 2 x 2 x 3 + 8 x 3 x 2 x 3 + (3 x 8) x 3 = 96 + 144 + 72 = 312 MACs
    assert structure(conv, layers, kept, pos)["forward_flops"] == 2 * 312
    assert structure(conv, layers, kept, pos)["kept_weights"] == 12 + 18 + 72
    ctx = EarlyBirdContext(toy_splits(50, (8,)), 0, TrainSettings(epochs=4), 2, 2)
    assert training_flops(ctx, 1000, 100) == 3 * 50 * (1000 * 2 + 100 * 4)


def test_resnet_node_layers_are_the_inner_convs():
    model = build_model("resnet18", (3, 8, 8), 4, seed=0)
    names = [layer.name for layer in node_layers(model)]
    assert names == [f"stages.{i}.body.0" for i in range(8)]  # not the stem, not body.3


def _build() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 12),
                         nn.ReLU(), nn.Linear(12, 3))  # fmt: skip


def _context() -> EarlyBirdContext:
    run = TrainSettings(epochs=6, batch_size=32, lr=0.05, schedule="cosine", warmup_epochs=1)
    return early_bird_context(run, 2, None, toy_splits(96, (8,)), seed=0)


def _drop_time(records: list[dict]) -> list[dict]:
    timed = {"seconds", "step_seconds", "dense_step_seconds", "train_speedup"}
    return [{k: v for k, v in r.items() if k not in timed} for r in records]


def test_the_driver_records_every_run_and_a_killed_run_resumes_with_the_same_records(
    tmp_path, monkeypatch
):
    ctx = _context()
    assert (ctx.retrain.epochs, ctx.retrain.l1, ctx.dense_epochs) == (4, 0.0, 2)
    runs, _ = node_plan(["spline", "random"], ["layer", "global"], [0.5, 0.25], batchnorm=False)
    reference = prune_at_early_bird(_build, ctx, runs, log=lambda s: None)
    assert [(r["method"], r["scope"], r["kept_target"]) for r in reference] == runs
    first = reference[0]
    assert first["node_fraction"] == 1.0 and first["flops_saving"] == 1.0
    for r in reference[1:]:
        assert r["kept_nodes"] == round(r["kept_target"] * 28) and r["flops_saving"] > 1
        assert 0 <= r["test_acc"] <= 1 and r["epochs"] == 4 and r["total_epochs"] == 6
    ckpt, real_fit, calls = tmp_path / "pruning.ckpt", early_bird_mod.fit, []

    def dies_at_the_third_run(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(early_bird_mod, "fit", dies_at_the_third_run)
    with pytest.raises(KeyboardInterrupt):
        prune_at_early_bird(_build, ctx, runs, ckpt, log=lambda s: None)
    calls.clear()
    monkeypatch.setattr(early_bird_mod, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    resumed = prune_at_early_bird(_build, ctx, runs, ckpt, log=lambda s: None)
    assert len(calls) == len(runs) - 2 and _drop_time(resumed) == _drop_time(reference)


def test_a_batchnorm_convnet_runs_every_method_and_its_pruned_channels_stay_off():
    run = TrainSettings(epochs=4, batch_size=32, lr=0.05, schedule="cosine")
    ctx = early_bird_context(run, 1, 2, toy_splits(96, (1, 8)), seed=0)
    runs, skipped = node_plan(list(NODE_METHODS), ["layer", "global"], [0.5], batchnorm=True)
    assert not skipped and len(runs) == 1 + 2 * len(NODE_METHODS)
    records = prune_at_early_bird(bn_convnet, ctx, runs, log=lambda s: None)
    assert all(r["kept_nodes"] == 7 for r in records[1:])  # round(0.5 * 14)
    model = bn_convnet()
    layers = node_layers(model)
    kept = select_nodes(slimming_scores(model, layers), 0.5, "layer")
    masks = node_param_masks(model, layers, kept)
    early_bird_mod.fit(model, ctx.data, ctx.retrain, 0, masks=masks, log=lambda s: None)
    model.eval()
    with torch.no_grad():
        out = model[:6](ctx.data.test.x)
    assert (out[:, ~kept["3"]] == 0).all() and (out[:, kept["3"]] != 0).any()


def test_no_early_bird_prunes_the_end_and_retrains_what_is_asked():
    run = TrainSettings(epochs=5)
    ctx = early_bird_context(run, None, None, toy_splits(20, (8,)), seed=0)
    assert (ctx.eb_epoch, ctx.dense_epochs, ctx.retrain.epochs) == (None, 5, 1)
    ctx = early_bird_context(run, 3, 7, toy_splits(20, (8,)), seed=0)
    assert (ctx.dense_epochs, ctx.retrain.epochs) == (3, 7)


def test_table_and_figure_of_the_records():
    from prunelimit.plotting import notes
    from prunelimit.plotting.spline_pruning import plot_spline_pruning
    from prunelimit.tables.spline_pruning import pruning_table

    ctx = _context()
    runs, _ = node_plan(["spline", "magnitude"], ["layer", "global"], [0.5], batchnorm=False)
    records = prune_at_early_bird(_build, ctx, runs, log=lambda s: None)
    df = pd.DataFrame([{"experiment": "toy", "seed": 0, **r} for r in records])
    df = pd.concat([df, df.assign(seed=1, test_acc=df["test_acc"] - 0.02)], ignore_index=True)
    raw, shown = pruning_table(df, {"spline": "Spline"})
    assert len(raw) == 5 and (raw["seeds"] == 2).all()
    assert shown["method"].tolist()[:2] == ["unpruned", "Spline"]
    assert math.isclose(raw["test_acc_mean"].iloc[0], df["test_acc"].iloc[[0, 5]].mean())
    fig = plot_spline_pruning(df, {"spline": "Spline"}, title="toy")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert len(labels) == 5 and labels[0].startswith("unpruned")
    assert fig.axes[1].get_xscale() == "log" and not notes(fig)
    # (c): the measured speed-up, one point per run, from the records
    speed = [line.get_ydata() for line in fig.axes[2].get_lines() if len(line.get_ydata()) == 1]
    assert sorted(float(y[0]) for y in speed) == pytest.approx(
        sorted(raw["train_speedup"].iloc[1:]), rel=1e-9
    )
    assert (raw["train_speedup"].iloc[1:] > 0).all() and raw["train_speedup"].iloc[0] == 1.0
    assert shown["speed-up"].iloc[0] == "1.00x"
    old = df.drop(columns=["train_speedup", "step_seconds", "dense_step_seconds"])
    assert notes(plot_spline_pruning(old)) == ["training speed not measured in these records"]
    assert (pruning_table(old)[1]["speed-up"] == "-").all()


@pytest.mark.slow
def test_the_rules_on_the_tiny_config(tmp_path):
    cfg = yaml.safe_load((REPO / ".test/config.yaml").read_text())
    cfg["spline"]["pruning"] = {"methods": ["spline", "random", "slimming"], "kept": [0.5],
                                "retrain_epochs": 2}  # fmt: skip
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    targets = ["results/tables/spline_pruning.csv", "results/figures/spline_pruning_tiny.png"]
    proc = run_snakemake("--cores", "2", "--configfile", str(tmp_path / "config.yaml"),
                         "--directory", str(tmp_path), *targets)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = pd.read_csv(tmp_path / targets[0])
    # unpruned, then spline and random in both scopes; slimming left out (no BatchNorm)
    assert table["method"].tolist() == ["unpruned"] + ["spline"] * 2 + ["random"] * 2
    assert (table["epochs"] == 2).all() and (tmp_path / targets[1]).stat().st_size > 0
    assert not (tmp_path / "results/tiny/seed0/spline/pruning.ckpt").exists()
