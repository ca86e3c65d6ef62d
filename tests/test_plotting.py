"""The shared figure helpers: plain log-axis labels (no mathtext), signed on symlog axes."""

import matplotlib.pyplot as plt
from matplotlib.ticker import LogFormatterSciNotation

from prunelimit.plotting import PlainLogFormatter, save_figure


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
