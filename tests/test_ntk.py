"""NTK of randomly pruned networks: analytic limit, empirical NTKs, pruning, sweeps."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from prunelimit.ntk.analytic import analytic_ntk, analytic_ntk_gram, two_unit_inputs
from prunelimit.ntk.kernels import empirical_ntk, mlp_ntk, naive_ntk
from prunelimit.ntk.network import PrunedMLP, init_weights, kept_fraction, pruned_mlp, random_masks
from prunelimit.ntk.sweep import gram_distances, ntk_sweep, real_input_scale
from prunelimit.ntk.width import width_needed, width_needed_fit
from prunelimit.tables.ntk import deviation_caption, deviation_table, sweep_summary

THETA_PAPER = 2.42873  # Yang & Wang (2023): depth 3, unit inputs, <x, y> = 0.7688


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tests are small: one thread avoids OpenMP spin-waits on shared, loaded CPUs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _theta(model: PrunedMLP, inner: float = 0.7688) -> float:
    x = two_unit_inputs(inner, model.weights[0].shape[1], model.weights[0].dtype)
    return float(mlp_ntk(model, x)[0, 1])


# --------------------------------------------------------------------------- analytic limit


def test_analytic_value_of_the_paper():
    assert analytic_ntk(0.7688, 3) == pytest.approx(THETA_PAPER, abs=1e-4)


def test_analytic_diagonal_and_depth_zero():
    # S_h(x, x) = Sdot_h = 1 for unit x, so Theta(x, x) = L + 1; depth 0 is the linear kernel.
    for depth in range(5):
        assert analytic_ntk(1.0, depth) == pytest.approx(depth + 1, abs=1e-12)
    assert analytic_ntk(0.3, 0) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        analytic_ntk(1.2, 3)


def test_analytic_gram_is_homogeneous_and_matches_scalar():
    x = two_unit_inputs(0.7688, 10, torch.float64)
    scaled = x * torch.tensor([[3.0], [0.5]], dtype=torch.float64)
    gram = analytic_ntk_gram(scaled, depth=3, input_scale=0.2)
    assert gram[0, 1].item() == pytest.approx(0.04 * 1.5 * THETA_PAPER, rel=1e-4)
    assert gram[0, 0].item() == pytest.approx(0.04 * 9 * 4.0, rel=1e-10)
    assert torch.allclose(gram, gram.T)


# --------------------------------------------------------------------------- empirical NTK


def test_wide_dense_network_approaches_the_limit():
    # width 2048, 16 draws: per-draw std ~0.14, so the mean is within ~0.035 (1 s.e.) of the
    # limit plus an O(1/n) bias; 0.12 (5%) is > 3 s.e. yet catches any wrong scaling.
    thetas = [_theta(pruned_mlp(10, 2048, 3, seed=s)) for s in range(16)]
    assert np.mean(thetas) == pytest.approx(THETA_PAPER, abs=0.12)
    assert 0.02 < np.std(thetas) < 0.4  # it fluctuates, but not wildly
    # a narrow network is visibly further from the limit on average
    narrow = [_theta(pruned_mlp(10, 32, 3, seed=s)) for s in range(16)]
    assert np.mean(np.abs(np.subtract(narrow, THETA_PAPER))) > 2 * np.mean(
        np.abs(np.subtract(thetas, THETA_PAPER))
    )


@pytest.mark.parametrize("p", [0.0, 0.5])
@pytest.mark.parametrize("out_dim", [1, 3])
def test_func_and_layerwise_ntk_equal_naive(p, out_dim):
    model = pruned_mlp(
        7, 24, 3, p, True, seed=3, out_dim=out_dim, dtype=torch.float64, input_scale=0.6
    )
    g = torch.Generator().manual_seed(0)
    x = torch.randn(9, 7, generator=g, dtype=torch.float64)
    y = torch.randn(4, 7, generator=g, dtype=torch.float64)
    for mode in ("trace", "full"):
        ref = naive_ntk(model, x, mode=mode)
        assert torch.allclose(empirical_ntk(model, x, chunk_size=4, mode=mode), ref, atol=1e-10)
        assert torch.allclose(mlp_ntk(model, x, mode=mode, pair_chunk=5), ref, atol=1e-10)
        ref_xy = naive_ntk(model, x, y, mode=mode)
        assert torch.allclose(
            empirical_ntk(model, x, y, chunk_size=2, mode=mode), ref_xy, atol=1e-10
        )
        assert torch.allclose(mlp_ntk(model, x, y, mode=mode, pair_chunk=7), ref_xy, atol=1e-10)
    full = naive_ntk(model, x, mode="full")
    assert full.shape == (9, 9, out_dim, out_dim)
    assert torch.allclose(torch.einsum("aboo->ab", full), naive_ntk(model, x))


def test_empirical_ntk_of_a_generic_module_equals_naive():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 2)).double()
    x = torch.randn(6, 5, dtype=torch.float64)
    got = empirical_ntk(net, x, chunk_size=4)
    ref = naive_ntk(net, x)
    assert torch.allclose(got, ref, atol=1e-10)
    # the NTK is a Gram matrix: symmetric positive semi-definite
    assert torch.allclose(got, got.T)
    assert torch.linalg.eigvalsh(got).min() > -1e-10


# --------------------------------------------------------------------------- pruning


def test_masks_keep_about_one_minus_p_and_never_the_first_layer():
    g = torch.Generator().manual_seed(0)
    weights = init_weights(10, 256, 3, 1, g)
    for p in (0.25, 0.75):
        masks = random_masks([w.shape for w in weights], p, torch.Generator().manual_seed(1))
        assert masks[0] is None
        kept = sum(m.sum().item() for m in masks[1:])
        total = sum(m.numel() for m in masks[1:])
        sd = math.sqrt(p * (1 - p) / total)
        assert abs(kept / total - (1 - p)) < 5 * sd
        model = PrunedMLP(weights, masks, p)
        assert kept_fraction(model) == pytest.approx(kept / total)
    assert all(m is None for m in random_masks([w.shape for w in weights], 0.0))
    with pytest.raises(ValueError):
        random_masks([w.shape for w in weights], 1.0)
    with pytest.raises(ValueError):
        PrunedMLP(weights, [torch.ones_like(w) for w in weights], 0.5)  # first layer masked


def test_pruned_weights_get_no_gradient():
    model = pruned_mlp(10, 32, 3, 0.5, True, seed=0)
    model(torch.randn(4, 10)).sum().backward()
    for k in range(1, 4):
        mask = getattr(model, f"mask{k}")
        assert (model.weights[k].grad[mask == 0] == 0).all()
        assert (model.weights[k].grad[mask == 1] != 0).any()


def test_rescaling_is_the_identity_at_p_zero():
    a = pruned_mlp(10, 64, 3, 0.0, rescale=False, seed=5)
    b = pruned_mlp(10, 64, 3, 0.0, rescale=True, seed=5)
    assert a.scales == b.scales
    for wa, wb in zip(a.weights, b.weights, strict=True):
        assert torch.equal(wa, wb)
    x = torch.randn(8, 10)
    assert torch.equal(a(x), b(x))
    assert torch.equal(mlp_ntk(a, x), mlp_ntk(b, x))


def test_rescaling_removes_the_scaling_of_the_limit():
    p, depth, inner = 0.5, 3, 0.7688
    plain, rescaled = [], []
    for s in range(12):
        plain.append(_theta(pruned_mlp(10, 1024, depth, p, False, seed=s)))
        rescaled.append(_theta(pruned_mlp(10, 1024, depth, p, True, seed=s)))
        # same weights and masks: the rescaling multiplies the NTK by exactly (1-p)^-L
        assert rescaled[-1] == pytest.approx(plain[-1] / (1 - p) ** depth, rel=1e-4)
    limit = analytic_ntk(inner, depth)
    # without rescaling: about (1-p)^3 = 1/8 of the limit; with it: about the limit
    assert np.mean(plain) / limit == pytest.approx((1 - p) ** depth, rel=0.12)
    assert np.mean(rescaled) / limit == pytest.approx(1.0, rel=0.12)
    assert np.mean(plain) < 0.2 * limit


# --------------------------------------------------------------------------- sweeps


def test_sweep_is_reproducible_and_consistent():
    kw = dict(depth=3, input_dim=10, inner=0.7688)
    a = ntk_sweep([16, 64], [0.0, 0.5], 3, seed=7, **kw)
    b = ntk_sweep([16, 64], [0.0, 0.5], 3, seed=7, **kw)
    c = ntk_sweep([16, 64], [0.0, 0.5], 3, seed=8, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["theta"], c["theta"])
    assert len(a) == 2 * 2 * 3 * 2
    assert set(a.columns) >= {
        "width",
        "p",
        "draw",
        "rescaled",
        "theta",
        "theta_inf",
        "abs_dev",
        "rel_dev",
    }
    assert np.allclose(a["abs_dev"], (a["theta"] - a["theta_inf"]).abs())
    assert (a["theta_inf"] == analytic_ntk(0.7688, 3)).all()
    dense = a[a["p"] == 0.0]
    on, off = dense[dense["rescaled"]], dense[~dense["rescaled"]]
    assert np.array_equal(on["theta"].to_numpy(), off["theta"].to_numpy())
    # the jacobian route gives the same numbers
    d = ntk_sweep([16], [0.5], 2, seed=7, method="jacobian", **kw)
    ref = a[(a["width"] == 16) & (a["p"] == 0.5) & (a["draw"] < 2)]
    assert np.allclose(d["theta"].to_numpy(), ref["theta"].to_numpy(), rtol=1e-4)


def test_gram_distances_on_a_batch():
    x = torch.randn(6, 1, 12, generator=torch.Generator().manual_seed(0))
    df = gram_distances(x, [32, 256], [0.0, 0.5], 3, seed=1, input_scale=12**-0.5)
    assert len(df) == 2 * 2 * 3 * 2
    assert (df.loc[df["p"] == 0.0, "rel_frob_dense"] == 0).all()
    plain = df[(df["p"] == 0.5) & ~df["rescaled"]]["rel_frob_dense"]
    assert np.allclose(plain, 1 - 0.5**3, atol=0.15)  # dominated by the (1-p)^3 scaling
    mean = df[df["rescaled"]].groupby("width")["rel_frob_inf"].mean()
    assert mean[256] < mean[32]  # wider is closer to the limit


def test_width_needed():
    df = pd.DataFrame(
        {
            "p": [0.0] * 6 + [0.5] * 6,
            "width": [32, 32, 64, 64, 128, 128] * 2,
            "rescaled": True,
            "abs_dev": [0.3, 0.1, 0.05, 0.1, 0.08, 0.1] + [0.5, 0.5, 0.4, 0.4, 0.3, 0.2],
        }
    )
    need = width_needed(df, 0.1)
    assert need[0.0] == 64 and math.isnan(need[0.5])
    assert width_needed(df, 0.1, stable=True)[0.0] == 64
    assert width_needed(df, 0.25)[0.5] == 128
    noisy = df.copy()
    noisy.loc[(noisy["p"] == 0.0) & (noisy["width"] == 128), "abs_dev"] = 0.5
    assert width_needed(noisy, 0.1)[0.0] == 64
    assert math.isnan(width_needed(noisy, 0.1, stable=True)[0.0])


def test_width_needed_fit_recovers_a_power_law():
    widths = [128, 256, 512, 1024]
    rows = [
        {"p": p, "width": w, "rescaled": True, "abs_dev": c * w**-0.5}
        for p, c in ((0.0, 10.0), (0.5, 20.0))
        for w in widths
    ]
    fit = width_needed_fit(pd.DataFrame(rows), 0.1).set_index("p")
    assert fit.loc[0.0, "exponent"] == pytest.approx(-0.5)
    assert fit.loc[0.0, "width_fit"] == pytest.approx(1e4)  # 10 / sqrt(n) = 0.1
    assert fit.loc[0.5, "width_fit"] == pytest.approx(4e4)
    assert fit["extrapolated"].all()
    flat = pd.DataFrame([{"p": 0.0, "width": w, "rescaled": True, "abs_dev": 1.0} for w in widths])
    assert math.isnan(width_needed_fit(flat, 0.1)["width_fit"].iloc[0])


def test_table_and_summary(tmp_path):
    df = ntk_sweep([16, 32], [0.0, 0.5], 2, seed=0)
    raw, fmt = deviation_table(df, 10.0)
    assert len(raw) == len(fmt) == 4
    # the table's numbers are the sweep's: mean and std of |Theta_hat - Theta_inf| per cell
    for _, row in raw.iterrows():
        cell = df[(df["p"] == row["p"]) & (df["rescaled"] == row["rescaled"])]
        for w in (16, 32):
            devs = cell[cell["width"] == w]["abs_dev"]
            assert row[f"dev_mean_{w}"] == pytest.approx(devs.mean())
            assert row[f"dev_std_{w}"] == pytest.approx(devs.std())
    # width needed at a tolerance between the two widths' mean deviations of the dense row
    dense = raw[(raw["p"] == 0.0) & raw["rescaled"]].iloc[0]
    lo, hi = sorted((dense["dev_mean_16"], dense["dev_mean_32"]))
    tol = (lo + hi) / 2
    expect = 16 if dense["dev_mean_16"] <= tol else 32
    raw_t, _ = deviation_table(df, tol)
    got = raw_t[(raw_t["p"] == 0.0) & raw_t["rescaled"]]["width_needed"].iloc[0]
    assert got == expect
    below = min(lo, hi) / 2  # no width reaches half the smallest mean deviation
    raw_b, fmt_b = deviation_table(df, below)
    assert raw_b[(raw_b["p"] == 0.0) & raw_b["rescaled"]]["width_needed"].isna().all()
    assert (fmt_b[f"width needed (tol {below:g})"] == "> max").any()
    assert f"Theta_inf = {analytic_ntk(0.7688, 3):.5f}" in deviation_caption(df, 10.0)
    assert "(widths >= 64)" in deviation_caption(df, 10.0, min_width=64)
    s = sweep_summary(df, None, 10.0)
    assert s["largest_width"] == 32 and s["width_needed"] == {"0": 16, "0.5": 16}


# --------------------------------------------------------------------------- figures


@pytest.fixture(scope="module")
def sweep_df() -> pd.DataFrame:
    return ntk_sweep([16, 32, 64], [0.0, 0.5, 0.8], 3, seed=0)


def _errorbars(ax) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per errorbar label: x and y of the data line and the upper ends of the y whiskers."""
    out = {}
    for c in ax.containers:
        line, _, (bars,) = c.lines
        top = np.array([seg[:, 1].max() for seg in bars.get_segments()])
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        out[c.get_label()] = (x, y, top)
    return out


def _line(ax, label: str):
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)


def _check_per_p(ax, d: pd.DataFrame, column: str) -> None:
    """One errorbar per p of ``d``: y the per-width mean of ``column``, whiskers up to mean +
    std, x the widths (dodged by less than 2^0.1)."""
    bars = _errorbars(ax)
    stats = d.groupby(["p", "width"])[column].agg(["mean", "std"])
    ps = sorted(d["p"].unique())
    assert set(bars) == {f"p = {p:g}" for p in ps}
    for p in ps:
        x, y, top = bars[f"p = {p:g}"]
        s = stats.loc[p]
        np.testing.assert_allclose(y, s["mean"].to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(top, (s["mean"] + s["std"]).to_numpy(), rtol=1e-12)
        shift = x / s.index.to_numpy(dtype=float)
        assert np.allclose(shift, shift[0]) and 2**-0.1 < shift[0] < 2**0.1


def _log2_x(ax) -> bool:
    return ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2


def test_ntk_value_figure_plots_the_means(sweep_df):
    from prunelimit.plotting.ntk import plot_ntk_value

    df = sweep_df
    theta_inf = analytic_ntk(0.7688, 3)
    fig = plot_ntk_value(df)
    plain, rescaled = fig.axes[:2]
    for ax, flag in ((plain, False), (rescaled, True)):
        _check_per_p(ax, df[df["rescaled"] == flag], "theta")
        assert _line(ax, f"dense limit {theta_inf:.5f}")[1] == pytest.approx([theta_inf] * 2)
        assert _log2_x(ax)
    assert plain.get_yscale() == "log" and rescaled.get_yscale() == "linear"
    # the scaled limits (1-p)^L Theta_inf of the pruned panel, for p > 0
    dotted = [ln.get_ydata() for ln in plain.get_lines() if ln.get_linestyle() == ":"]
    levels = sorted(y[0] for y in dotted if len(y))  # the empty one is the legend entry
    assert levels == pytest.approx(sorted((1 - p) ** 3 * theta_inf for p in (0.5, 0.8)))
    plt.close(fig)


def test_ntk_deviation_figure_plots_the_means_and_tolerance(sweep_df):
    from prunelimit.plotting.ntk import plot_ntk_deviation

    df, tol = sweep_df, 0.07
    fig = plot_ntk_deviation(df, tol)
    widths = np.array([16, 32, 64], dtype=float)
    for ax, flag in zip(fig.axes[:2], (False, True), strict=True):
        d = df[df["rescaled"] == flag]
        _check_per_p(ax, d, "abs_dev")
        assert _line(ax, f"tolerance {tol:g}")[1] == pytest.approx([tol, tol])
        dense = d[d["p"] == 0.0].groupby("width")["abs_dev"].mean()
        x, y = _line(ax, r"$\propto n^{-1/2}$")
        np.testing.assert_allclose(x, widths)
        np.testing.assert_allclose(y, dense[64] * np.sqrt(64 / widths), rtol=1e-12)
        assert ax.get_yscale() == "log" and _log2_x(ax)
        assert ax.get_ylim()[0] < tol
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()
    plt.close(fig)


def test_width_needed_figure_plots_swept_and_fitted_widths():
    from prunelimit.plotting.ntk import plot_width_needed

    # mean deviation c / sqrt(n) (two draws at +-10 %); tol 0.1 is met from n = 400 (p = 0),
    # 900 (p = 0.5), 40000 (p = 0.8); unrescaled rows are far off and must be ignored
    widths, coef = [128, 256, 512, 1024], {0.0: 2.0, 0.5: 3.0, 0.8: 20.0}
    rows = [
        {"p": p, "width": w, "draw": k, "rescaled": r, "abs_dev": c * w**-0.5 * (1 + e)}
        for p, c in coef.items()
        for w in widths
        for k, e in enumerate((-0.1, 0.1))
        for r in (True, False)
    ]
    df = pd.DataFrame(rows)
    df.loc[~df["rescaled"], "abs_dev"] = 100.0
    fig = plot_width_needed(df, 0.1)
    ax = fig.axes[0]
    x, y = _line(ax, "smallest swept width")
    assert list(x) == [0.0, 0.5] and list(y) == [512, 1024]
    marks = {c.get_label(): c.get_offsets() for c in ax.collections}
    assert marks["not reached by n = 1024"][:, 0].tolist() == [0.8]
    filled, open_ = marks[r"power-law fit (n $\geq$ 128)"], marks["power-law fit, extrapolated"]
    assert filled[:, 0].tolist() == [0.0, 0.5] and open_[:, 0].tolist() == [0.8]
    np.testing.assert_allclose(filled[:, 1], [400, 900], rtol=1e-6)
    np.testing.assert_allclose(open_[:, 1], [40000], rtol=1e-6)
    assert _line(ax, "largest swept width")[1] == pytest.approx([1024, 1024])
    assert ax.get_yscale() == "log" and ax.yaxis.get_transform().base == 2
    plt.close(fig)


def test_rescaling_figure_plots_the_ratio_at_the_largest_width(sweep_df):
    from prunelimit.plotting.ntk import PANELS, plot_rescaling

    df = sweep_df
    fig = plot_rescaling(df)
    ax = fig.axes[0]
    bars = _errorbars(ax)
    assert set(bars) == {label for _, label in PANELS}
    last = df[df["width"] == 64]
    for flag, label in PANELS:
        stats = last[last["rescaled"] == flag].groupby("p")["ratio"].agg(["mean", "std"])
        x, y, top = bars[label]
        assert list(x) == [0.0, 0.5, 0.8]
        np.testing.assert_allclose(y, stats["mean"].to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(top, (stats["mean"] + stats["std"]).to_numpy(), rtol=1e-12)
    assert _line(ax, "limit: 1")[1] == pytest.approx(np.ones(100))
    x, y = _line(ax, "limit: $(1-p)^{3}$")
    np.testing.assert_allclose(y, (1 - x) ** 3, rtol=1e-9)
    assert ax.get_yscale() == "log"
    plt.close(fig)


def test_gram_figure_plots_both_distances():
    from prunelimit.plotting.ntk import plot_gram_distance

    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    gram = gram_distances(x, [16, 32], [0.0, 0.5, 0.8], 2, seed=0)
    fig = plot_gram_distance(gram)
    for ax, column in zip(fig.axes[:2], ("rel_frob_dense", "rel_frob_inf"), strict=True):
        plotted = sorted(
            (c.lines[0].get_linestyle(), tuple(c.lines[0].get_ydata())) for c in ax.containers
        )
        expect = []
        for (p, flag), g in gram.groupby(["p", "rescaled"]):
            if p == 0.0 and (column == "rel_frob_dense" or not flag):
                continue  # identically zero, or the same as rescaled
            means = g.groupby("width")[column].mean()
            expect.append(("-" if flag else "--", tuple(means.to_numpy())))
        assert [ls for ls, _ in plotted] == [ls for ls, _ in sorted(expect)]
        np.testing.assert_allclose(
            [y for _, y in plotted], [y for _, y in sorted(expect)], rtol=1e-12
        )
        assert ax.get_yscale() == "log" and _log2_x(ax)
    labels = {c.get_label() for c in fig.axes[1].containers}
    assert {f"p = {p:g}" for p in (0.0, 0.5, 0.8)} <= labels
    plt.close(fig)


def test_figures_are_written(tmp_path, sweep_df):
    from prunelimit.plotting import save_figure
    from prunelimit.plotting.ntk import plot_ntk_value

    fig = plot_ntk_value(sweep_df)
    paths = save_figure(fig, tmp_path / "v.pdf", tmp_path / "v.png")
    assert all(p.stat().st_size > 1000 for p in paths)
    assert not plt.fignum_exists(fig.number)  # save_figure closed it


def test_real_input_scale():
    assert real_input_scale(torch.zeros(3, 1, 4, 10)) == pytest.approx(40**-0.5)


def test_benchmark_entry_point(capsys):
    from prunelimit.bench.ntk import main

    res = main(
        ["--width", "32", "--batch", "5", "--input-dim", "6", "--repeats", "1", "--device", "cpu"]
    )
    assert all(m["max_rel_diff"] < 1e-4 for m in res["methods"].values())
    assert "speed-up" in capsys.readouterr().out
