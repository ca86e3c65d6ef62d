"""The shared figure helpers: plain log-axis labels (no mathtext), signed on symlog axes."""

import matplotlib.pyplot as plt
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
