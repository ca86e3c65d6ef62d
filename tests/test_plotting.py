"""The shared figure helpers: plain log-axis labels (no mathtext), signed on symlog axes."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.ticker import LogFormatterSciNotation

from prunelimit.plotting import PlainLogFormatter, save_figure, tight_layout


def test_plain_log_labels_keep_the_sign():
    fig, ax = plt.subplots()
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(-1000, 1000)
    f = PlainLogFormatter(base=10)
    f.set_axis(ax.yaxis)
    assert [f(v) for v in (100.0, -100.0, 0.0, 0.01, 1e6)] == [
        "100",
        "\u2212100",
        "0",
        "0.01",
        "1e+06",
    ]
    plt.close(fig)


def test_save_figure_replaces_mathtext_log_labels(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([1, 10, 100], [1, 2, 3])
    ax.set_xscale("log")
    assert type(ax.xaxis.get_major_formatter()) is LogFormatterSciNotation
    save_figure(fig, tmp_path / "f.png")
    assert isinstance(ax.xaxis.get_major_formatter(), PlainLogFormatter)
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_the_layout_is_measured_on_plain_labels_without_mathtext(monkeypatch):
    """``plotting.tight_layout`` swaps the log formatters before laying out: no label is ever
    parsed as mathtext (the parse took a good part of a figure job)."""
    import matplotlib.text

    parsed = []
    original = matplotlib.text.Text._preprocess_math

    def spy(self, s):
        out = original(self, s)
        if out[1]:
            parsed.append(s)
        return out

    monkeypatch.setattr(matplotlib.text.Text, "_preprocess_math", spy)
    fig, axes = plt.subplots(1, 2)
    axes[0].plot([0.1, 1, 100], [1, 2, 3])
    axes[0].set_xscale("log")
    axes[1].plot([1, 2, 3], [-100, 0, 1000])
    axes[1].set_yscale("symlog", linthresh=1.0)
    tight_layout(fig)
    fig.canvas.draw()
    assert parsed == []
    assert isinstance(axes[1].yaxis.get_major_formatter(), PlainLogFormatter)
    plt.close(fig)


def test_local_model_figure_when_the_first_order_model_never_breaks():
    """``rho_first_order_breaks`` NaN is stored as null in limit.json: the figure must draw."""
    from prunelimit.plotting.limits import local_model

    rho = [1.0, 0.5, 0.1]
    loc = {"rho": rho, "rho_first_order_breaks": None, "marks": {}}
    for key in ("measured", "first_order", "objective_measured", "objective_first_order"):
        loc[f"{key}_eps"] = [0.0, 0.3, 0.9]
    mark = {"rho": 0.1, "measured": 0.9, "first_order": 0.6, "quadratic": 0.2, "model": 0.8}
    loc["marks"]["rho_loss"] = {**mark, "objective_measured": 0.1, "objective_model": 0.0}
    limit = {"seed": 0, "rho_loss": 0.1, "rho_objective": 0.1, "local_model": loc}
    fig = local_model("x", [{"rho_th": 0.2}], [limit])
    assert [line.get_ydata().tolist() for line in fig.axes[0].lines[:2]] == [[0.9, 0.3, 0.0]] * 2
    plt.close(fig)


def test_theory_curves_draw_the_stored_prediction_and_the_actual_limits():
    """The l1 panel draws each seed's ``1 - delta/D`` at its kept ratios (in %, values below
    the grid's smallest ratio on the bottom edge), ``rho_th`` on the diagonal, and the mean
    actual limits of that kind; a dense theory gets its own panel."""
    from prunelimit.plotting import notes
    from prunelimit.plotting.limit_appendix import theory_curves

    def theory(seed, kind, omd):
        rho = [0.001, 0.01, 0.1, 1.0]
        curve = {"rho": rho, "one_minus_delta": omd, "rho_lower": [0.0] * 4, "rho_upper": omd}
        return {"seed": seed, "kind": kind, "rho_th": 0.1, "curve": curve}

    l1 = [theory(0, "l1", [0.9, 0.5, 0.1, 0.0]), theory(1, "l1", [0.8, 0.4, 0.05, 0.0])]
    limits = [
        {"seed": s, "l1": {"rho_loss": r, "rho_objective": r / 2}, "dense": {"rho_loss": 0.5}}
        for s, r in ((0, 0.2), (1, 0.3))
    ]
    fig = theory_curves("x", l1, limits, [theory(0, "dense", [1.0, 1.0, 0.9, 0.0])])
    ax, dense = fig.axes
    first = ax.lines[0]
    assert first.get_xdata().tolist() == [0.1, 1.0, 10.0, 100.0]
    assert first.get_ydata().tolist() == [90.0, 50.0, 10.0, 0.1]  # 0 drawn at the floor 0.1 %
    assert [line.get_ydata().tolist() for line in ax.lines if line.get_marker() == "o"] == [
        [10.0],
        [10.0],
    ]
    vlines = [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() in ("--", "-.")]
    assert vlines[-2:] == pytest.approx([25.0, 12.5])  # (a) and (b), mean over the seeds
    assert "actual (a) loss = 50.00 %" in [t.get_text() for t in dense.get_legend().get_texts()]
    assert any("drawn on the bottom edge" in n for n in notes(fig))
    plt.close(fig)


def test_hessian_row_norms_draw_each_seed_and_the_cut_of_each_limit():
    """Each seed's row norms at their pruned fractions (in %) and against ``|w_i|``; the
    vertical lines sit at ``q = 1 - rho`` of the mean ``rho_th`` and actual limit (a)."""
    from prunelimit.plotting.limit_appendix import hessian_row_norms

    def rows(seed, scale):
        return {"seed": seed, "q": [0.0, 0.5], "row_l1": [scale * 1e-6, scale],
                "diagonal": [0.0, -scale / 2], "magnitude": [1e-4, 0.1], "samples": 50}  # fmt: skip

    theories = [{"seed": 0, "rho_th": 0.1}, {"seed": 1, "rho_th": 0.3}]
    limits = [{"seed": 0, "rho_loss": 0.2}, {"seed": 1, "rho_loss": 0.4}]
    fig = hessian_row_norms("x", [rows(1, 2.0), rows(0, 1.0)], theories, limits)
    left, right = fig.axes
    norms = [line for line in left.lines if line.get_marker() == "*"]
    assert norms[0].get_xdata().tolist() == [0.0, 50.0]
    assert norms[0].get_ydata().tolist() == [1e-6, 1.0]  # seed 0 first
    assert [line.get_xdata()[0] for line in left.lines if line.get_marker() in ("None", "")] == (
        pytest.approx([80.0, 70.0])
    )
    assert right.get_xscale() == "log" and right.get_yscale() == "log"
    assert "50 samples" in fig.texts[0].get_text()
    plt.close(fig)


# --- seaborn: the theme, the mean +- sd lines and the heat map, read back from what is drawn


def _band(ax, k: int, xs) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edges, at each of ``xs``, of the ``k``-th sd band (``fill_between``)."""
    verts = np.concatenate([p.vertices for p in ax.collections[k].get_paths()])
    edges = [verts[np.isclose(verts[:, 0], x), 1] for x in xs]
    return np.array([e.min() for e in edges]), np.array([e.max() for e in edges])


def test_setup_style_is_seaborns_theme():
    import seaborn as sns

    from prunelimit.plotting import palette, setup_style

    setup_style()
    cycle = [c["color"] for c in plt.rcParams["axes.prop_cycle"]]
    assert [matplotlib.colors.to_hex(c) for c in cycle] == sns.color_palette("colorblind").as_hex()
    assert plt.rcParams["axes.grid"] and plt.rcParams["font.size"] == pytest.approx(10.56)
    assert matplotlib.colors.to_hex(palette("colorblind", 11)[10]) == "#0173b2"  # cycled
    assert len(palette("viridis", 3)) == 3


def _runs(seeds=(0, 1, 2)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for method in ("sap", "lt"):
        for s in seeds:
            for t in range(4):
                rows.append(
                    {"method": method, "scope": "global", "seed": s, "iteration": t,
                     "percent": 100 * 0.7**t * (1 + 0.05 * rng.standard_normal()),
                     "test_acc": 0.9 - 0.02 * t + 0.01 * rng.standard_normal(),
                     "pqi_trained": 0.3 + 0.05 * rng.standard_normal(),
                     "pqi_pruned": 0.2 + 0.05 * rng.standard_normal(),
                     "pruned_test_acc": 0.7 - 0.05 * t + 0.02 * rng.standard_normal(),
                     "kept[fc1]": 0.7**t, "kept[fc2]": 0.8**t, "kept": 0.75**t,
                     "layer": "x", "value": 0.0}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_pqi_figure_draws_the_mean_and_sd_over_seeds():
    """Each line is the per-iteration mean over seeds and its band mean +- (sample) std, in
    % for the accuracy row."""
    from prunelimit.plotting.sap import METHOD_LABELS, plot_pqi

    df = _runs()
    fig = plot_pqi(df)
    columns = ("pqi_trained", "pqi_pruned", "test_acc", "pruned_test_acc")
    for ax, col, scale in zip(fig.axes, columns, (1, 1, 100, 100), strict=True):
        assert [ln.get_label() for ln in ax.get_lines()] == [
            METHOD_LABELS[m] for m in ("sap", "lt")
        ]
        for k, method in enumerate(("sap", "lt")):
            g = df[df["method"] == method].groupby("iteration")[col]
            mean, std = scale * g.mean(), scale * g.std()
            x, y = ax.get_lines()[k].get_data()
            np.testing.assert_allclose(x, mean.index)
            np.testing.assert_allclose(y, mean, rtol=1e-12)
            low, high = _band(ax, k, mean.index)
            np.testing.assert_allclose(low, mean - std, rtol=1e-9)
            np.testing.assert_allclose(high, mean + std, rtol=1e-9)
    plt.close(fig)


def test_layers_figure_draws_the_means_over_seeds():
    from prunelimit.plotting.sap import plot_layers

    df = _runs()
    fig = plot_layers(df, "sap")
    ax = fig.axes[0]
    sap = df[df["method"] == "sap"].groupby("iteration")
    lines = {ln.get_label(): ln.get_ydata() for ln in ax.get_lines()}
    np.testing.assert_allclose(lines["fc1"], 100 * sap["kept[fc1]"].mean(), rtol=1e-12)
    np.testing.assert_allclose(lines["fc2"], 100 * sap["kept[fc2]"].mean(), rtol=1e-12)
    np.testing.assert_allclose(lines["all layers"], sap["percent"].mean(), rtol=1e-12)
    plt.close(fig)


def test_ablation_figure_draws_the_mean_and_sd_per_setting():
    from prunelimit.plotting.sap import plot_ablation

    df = _runs()
    df = df[df["method"] == "sap"].assign(p=0.5, q=1.0, eta_r=0.0, gamma=1.0)
    other = df.assign(p=1.0, q=2.0, test_acc=df["test_acc"] - 0.1)
    df = pd.concat([df, other], ignore_index=True)
    fig = plot_ablation(df, "pq", base={"p": 0.5, "q": 1.0})
    acc = fig.axes[1]
    for k, p in enumerate((0.5, 1.0)):
        g = df[df["p"] == p].groupby("iteration")["test_acc"]
        np.testing.assert_allclose(acc.get_lines()[k].get_ydata(), 100 * g.mean(), rtol=1e-12)
        low, high = _band(acc, k, g.mean().index)
        np.testing.assert_allclose(high - low, 200 * g.std(), rtol=1e-9)
    plt.close(fig)


def test_regions_figure_draws_the_mean_and_sd_over_seeds():
    from prunelimit.plotting.spline import regions

    rows = [
        {"experiment": "m", "seed": s, "rho": rho, "allocation": alloc,
         "test_acc": 0.5 + 0.1 * s + rho, "oneshot_test_acc": 0.2 + 0.05 * s,
         "log_bound": 10.0 * rho + s, "density_0": rho * (1 + 0.1 * s), "density_1": rho,
         "dims": "40-8-8", "finetune_epochs": 1}
        for s in (0, 1, 2) for rho in (0.05, 0.2) for alloc in ("bound", "uniform", "global")
    ]  # fmt: skip
    df = pd.DataFrame(rows)
    fig = regions("m", df)
    bars = {c.get_label(): c for c in fig.axes[1].containers}
    for alloc in ("bound", "uniform", "global"):
        g = df[df["allocation"] == alloc].groupby("rho")
        for col, label in (("test_acc", "fine-tuned"), ("oneshot_test_acc", "no fine-tuning")):
            c = bars[f"{alloc} ({label})"]
            x, y = (np.asarray(v, dtype=float) for v in c.lines[0].get_data())
            np.testing.assert_allclose(x, 100 * g.size().index)
            np.testing.assert_allclose(y, g[col].mean(), rtol=1e-12)
            top = [seg[:, 1].max() for seg in c.lines[2][0].get_segments()]
            np.testing.assert_allclose(top, g[col].mean() + g[col].std(), rtol=1e-12)
        dens = {ln.get_label(): ln.get_ydata() for ln in fig.axes[2].get_lines()}
        np.testing.assert_allclose(
            np.asarray(dens[f"{alloc}, layer 1"], dtype=float), 100 * g["density_0"].mean()
        )
    plt.close(fig)


def test_gradual_figure_draws_the_seeds_means():
    """The line through the seeds' points is their mean at each chosen iteration (three seeds,
    skewed: not their median)."""
    from prunelimit.plotting.gradual import gradual_figure

    th = {0: 0.3, 1: 0.4, 2: 0.7}
    runs = []
    for seed, r in th.items():
        its = [
            {"iteration": t, "rho_th": r, "rho_th_of_D": r * 0.8**t,
             "rho_loss": 0.2 + 0.05 * seed**2, "rho_loss_of_D": 0.2 * 0.8**t,
             "rho_objective": 0.25, "rho_objective_of_D": 0.25 * 0.8**t}
            for t in (0, 2)
        ]  # fmt: skip
        sched = [{"iteration": t, "kept": 0.8**t} for t in range(3)]
        runs.append({"seed": seed, "method": "lt", "scope": "global", "schedule": sched,
                     "iterations": its})  # fmt: skip
    fig = gradual_figure("x", runs)
    left, right = fig.axes[:2]
    lines = {ln.get_label(): ln.get_data() for ln in left.get_lines()}
    x, y = lines["reachable: theory rho_th"]
    assert list(x) == [0, 2]
    mean_th = np.mean(list(th.values()))
    np.testing.assert_allclose(y, [100 * mean_th, 100 * mean_th * 0.64])
    x, y = {ln.get_label(): ln.get_data() for ln in right.get_lines()}["actual (a) loss"]
    np.testing.assert_allclose(y, [100 * np.mean([0.2 + 0.05 * s**2 for s in th])] * 2)
    dotted = [ln.get_ydata()[0] for ln in left.get_lines() if ln.get_linestyle() == ":"]
    assert any(y == pytest.approx(100 * mean_th) for y in dotted)  # iteration 0's limit
    plt.close(fig)


def test_early_bird_heat_map_shows_the_distances_with_epoch_0_at_the_bottom():
    from matplotlib.collections import QuadMesh

    from prunelimit.plotting.spline import early_bird

    n = 6
    dist = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) / n
    eb = {"seed": 0, "grid": 8, "epochs": list(range(n)), "detected_epoch": 2,
          "window_max": [None, None, None, 0.3, 0.1, 0.05]}  # fmt: skip
    fig = early_bird("x", [eb], [dist], threshold=0.16, window=3)
    ax = fig.axes[0]
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(n, n), dist)
    assert not ax.yaxis_inverted()  # row 0 (epoch 0) at the bottom
    assert [ln.get_xdata()[0] for ln in ax.get_lines()][:1] == [2.5]  # the cell of epoch 2
    plt.close(fig)
