"""The pruning methods' registry, their budgets, the at-init driver and the methods table."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest
import torch
import yaml
from torch import nn

import prunelimit.methods.at_init as at_init_mod
from conftest import REPO, toy_splits
from prunelimit.config.kinds import rescaled, start_settings, train_settings
from prunelimit.config.schema import ConfigError
from prunelimit.config.settings import ExperimentSettings, TrainSettings
from prunelimit.config.validate import load_settings
from prunelimit.experiment.checks import check_methods
from prunelimit.limit.actual import pruning_curve
from prunelimit.methods.at_init import prune_at_init
from prunelimit.methods.budget import iterative_budgets, schedule_text
from prunelimit.methods.registry import METHODS, AtInit, InitContext, Method, names, register
from prunelimit.pruning import count_prunable, flat_mask, keep_largest, split_flat
from prunelimit.sap.strategies import STRATEGIES
from prunelimit.tables.methods import methods_table

BUDGET = TrainSettings(epochs=4, batch_size=32, lr=0.05, schedule="cosine", warmup_epochs=1)


def build() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def _smallest_path(seed: int):
    """Keep the smallest magnitudes: nested in the kept count, and far from any real method."""

    def path_of(weights, mask=None):
        flat = torch.cat([w.detach().reshape(-1) for w in weights.values()]).abs()
        neg = flat.max() + 1.0 - flat  # keep_largest ranks |values|: the smallest |w| rank top

        def path(keep: int):
            full = torch.ones(1, flat.numel(), dtype=torch.bool)
            return split_flat(keep_largest(neg.view(1, -1), full, torch.tensor([keep]))[0],
                              weights)  # fmt: skip

        return path

    return path_of


def _smallest_masks(model, keep, ctx):
    weights = {n: p for n, p in model.named_parameters() if n.endswith("weight")}
    return _smallest_path(ctx.seed)(weights)(keep)


@pytest.fixture
def toy_method():
    method = Method("smallest", "Smallest", "at-init", "keep the smallest, train from init",
                    "test", path=_smallest_path, at_init=AtInit(_smallest_masks))  # fmt: skip
    register(method)
    yield method
    METHODS.pop("smallest")


def test_every_iterative_method_is_a_registered_strategy_and_the_nested_ones_have_paths():
    assert set(names("iterative")) == set(STRATEGIES)
    assert {"lomp", "smart_ratio", "random"} <= set(names(nested=True))
    assert "rare_gems" not in names(nested=True)  # its masks depend on training: no path
    with pytest.raises(ValueError, match="already registered"):
        register(METHODS["lomp"])


def test_a_method_registered_in_one_place_runs_through_the_comparison_and_the_limit_search(
    toy_method,
):
    data = toy_splits(96, (8,))
    ctx = InitContext(data, seed=0, budget=BUDGET, settings={})
    records = prune_at_init(toy_method, build, ctx, [50, 20], log=lambda s: None)
    assert [r["kept"] for r in records] == [round(0.5 * 176), round(0.2 * 176)]
    frame = pd.DataFrame([{"experiment": "e", "method": "smallest", "scope": "global",
                           "seed": 0, **r} for r in records])  # fmt: skip
    raw, shown = methods_table(frame, [50, 20], iterative=[])
    assert list(shown["method"]) == ["smallest"]
    assert raw["test_acc_mean"].tolist() == pytest.approx([100 * r["test_acc"] for r in records])
    model = build()
    curve = pruning_curve(model, data, 0.05, 0.01, 6, 0.01, path_of=toy_method.path(0))
    # the smallest magnitudes kept first: the first point kept is the smallest |w|
    row = min(curve["curve"], key=lambda r: r["rho"])
    weights = {n: p.detach() for n, p in model.named_parameters() if n.endswith("weight")}
    kept = flat_mask(model, _smallest_path(0)(weights)(round(row["rho"] * 176)))
    flat = torch.cat([w.reshape(-1) for w in weights.values()]).abs()
    assert flat[kept].max() <= flat[~kept].min()
    assert 0 < curve["rho_loss"] <= 1


def test_each_at_init_row_carries_the_budget_its_method_trained_with(monkeypatch):
    seen = []
    real_fit = at_init_mod.fit

    def spy(model, data, settings, seed, **kwargs):
        seen.append(settings)
        return real_fit(model, data, settings, seed, **kwargs)

    monkeypatch.setattr(at_init_mod, "fit", spy)
    data = toy_splits(96, (8,))
    for name, settings in (("random", {}), ("rare_gems", {"score_fraction": 0.5, "rounds": 2})):
        seen.clear()
        ctx = InitContext(data, seed=0, budget=BUDGET, settings=settings)
        records = prune_at_init(METHODS[name], build, ctx, [40], log=lambda s: None)
        (trained,) = seen
        assert records[0]["epochs"] == trained.epochs
        assert records[0]["schedule"] == schedule_text(trained)
        assert records[0]["total_epochs"] == BUDGET.epochs  # scores + fine-tuning = the budget
    assert trained.epochs == 2 and trained.lr == 0.01  # Rare Gems fine-tunes the other half
    assert records[0]["kept"] == round(0.4 * count_prunable(build()))


def test_iterative_budgets_count_the_dense_start_and_every_retraining():
    first = TrainSettings(epochs=300, lr=0.1, schedule="cosine", warmup_epochs=5)
    rows = iterative_budgets(first, 15, 3)
    assert [r["epochs"] for r in rows] == [300, 15, 15, 15]
    assert [r["total_epochs"] for r in rows] == [300, 315, 330, 345]
    assert rows[1]["schedule"] == "SGD lr 0.1 cosine"  # 5 warm-up epochs of 300 rescale to 0


def test_the_matched_budget_trains_the_dense_start_as_the_l1_run():
    exp = ExperimentSettings.from_dict(
        {"name": "e", "dataset": "mnist1d", "model": "mlp",
         "train": {"epochs": 300, "lr": 0.01, "l1": 5e-5},
         "l1_train": {"lr": 0.1, "l1": 1e-4, "schedule": "cosine", "warmup_epochs": 5}}
    )  # fmt: skip
    matched = start_settings(exp, "matched", 15)
    assert matched == replace(train_settings(exp, "l1"), l1=0.0)
    assert (matched.epochs, matched.lr, matched.schedule) == (300, 0.1, "cosine")
    assert start_settings(exp, "iteration", 15) == rescaled(train_settings(exp, "dense"), 15)


def _rows(method, seed, percents, accs, **extra):
    return [{"experiment": "e", "method": method, "scope": "global", "seed": seed,
             "iteration": t, "percent": p, "test_acc": a, **extra}
            for t, (p, a) in enumerate(zip(percents, accs, strict=True))]  # fmt: skip


def test_the_table_has_a_dense_row_and_leaves_excluded_seeds_out_with_the_count():
    df = pd.DataFrame(
        _rows("lt", 0, [100, 50], [0.8, 0.7]) + _rows("lt", 1, [100, 50], [0.6, 0.5])
        + _rows("lomp", 0, [50], [0.9], excluded="collapsed")
        + _rows("lomp", 1, [50], [0.4], excluded=math.nan)
    )  # fmt: skip
    raw, shown = methods_table(df, [50], iterative=["lt"])
    dense = raw[raw["method"] == "dense"].iloc[0]
    assert dense["test_acc_mean"] == pytest.approx(70.0)  # iteration 0 of both seeds
    lomp = raw[raw["method"] == "lomp"].iloc[0]
    assert lomp["test_acc_mean"] == pytest.approx(40.0) and lomp["seeds"] == 1
    assert shown.set_index("method").loc["lomp", "seeds"] == "1 (1 excluded)"


def test_a_config_naming_an_unregistered_method_is_rejected_with_its_key():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["sap"]["methods"] = ["lt", "lomp"]
    config["compare"]["methods"] = ["gems"]
    config["limit"]["method"] = "rare_gems"
    with pytest.raises(ConfigError) as err:
        check_methods(load_settings(config))
    text = str(err.value)
    assert "sap.methods[1]: 'lomp'" in text
    assert "compare.methods[0]: 'gems'" in text
    assert "limit.method: 'rare_gems'" in text


def test_the_methods_figure_draws_each_method_and_the_dense_start():
    import matplotlib.pyplot as plt

    from prunelimit.plotting.methods import plot_methods

    budget = {"start": "initialisation", "epochs": 4, "total_epochs": 4, "schedule": "SGD"}
    df = pd.DataFrame(
        _rows("lt", 0, [100, 80, 64], [0.8, 0.75, 0.7], **budget)
        + _rows("lt", 0, [100, 50], [0.8, 0.6], **budget)[1:2]  # another scope: not drawn
        + _rows("smart_ratio", 0, [50, 20], [0.7, 0.65], **budget)
    )
    df.loc[3, "scope"] = "layer"
    fig = plot_methods(df, ["lt"], {"lt": "Lottery Ticket", "smart_ratio": "Smart-Ratio"})
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert [label.split(":")[0] for label in labels] == ["dense start", "Lottery Ticket",
                                                         "Smart-Ratio"]  # fmt: skip
    assert "4 ep from initialisation, SGD" in labels[1]
    dense = [line for line in ax.lines if line.get_linestyle() == "--"][0]
    assert dense.get_ydata()[0] == pytest.approx(80.0)
    plt.close(fig)


def test_the_api_searches_the_limit_of_a_nested_method_and_refuses_one_without():
    from prunelimit.api import actual_limit

    data, model = toy_splits(96, (8,)), build()
    x, y = data.train.x, data.train.y
    grid = {"coarse_points": 5, "resolution": 0.02, "rho_min": 0.02}
    magnitude = actual_limit(model, (x, y), eps=0.05, limit=grid)
    random = actual_limit(model, (x, y), eps=0.05, limit={**grid, "method": "random"})
    assert magnitude["curve"] != random["curve"]  # other masks, other losses
    with pytest.raises(ValueError, match="no nested masks"):
        actual_limit(model, (x, y), eps=0.05, limit={**grid, "method": "rare_gems"})


def test_a_killed_at_init_job_resumes_after_its_last_level_with_the_same_numbers(
    tmp_path, monkeypatch
):
    data = toy_splits(96, (8,))
    ctx = InitContext(data, seed=0, budget=BUDGET, settings={})
    reference = prune_at_init(METHODS["random"], build, ctx, [60, 30], log=lambda s: None)
    ckpt, real_fit, calls = tmp_path / "random.ckpt", at_init_mod.fit, []

    def dies_at_the_second_level(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(at_init_mod, "fit", dies_at_the_second_level)
    with pytest.raises(KeyboardInterrupt):
        prune_at_init(METHODS["random"], build, ctx, [60, 30], ckpt, log=lambda s: None)
    calls.clear()
    monkeypatch.setattr(at_init_mod, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    resumed = prune_at_init(METHODS["random"], build, ctx, [60, 30], ckpt, log=lambda s: None)
    assert len(calls) == 1 and resumed == reference  # only the second level trained again
