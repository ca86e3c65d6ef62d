"""Rules sap_figures, sap_table and pqi_table: figures and tables of the SAP stage."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import log_to  # noqa: E402
from prunelimit.io import read_json  # noqa: E402
from prunelimit.plotting import save_figure  # noqa: E402
from prunelimit.plotting.sap import plot_accuracy, plot_layers, plot_pqi  # noqa: E402
from prunelimit.pqi import pqi_table  # noqa: E402
from prunelimit.sap import matched_levels, matched_levels_formatted, read_runs  # noqa: E402
from prunelimit.tables import mean_std, write_table  # noqa: E402

log_to(snakemake.log[0])
out = snakemake.output


def figures() -> None:
    df = read_runs(snakemake.input.runs)
    limits = [read_json(p) for p in snakemake.input.limits]
    marks = {}
    for key, label in (("rho_loss", "LOMP limit (loss)"), ("rho_acc", "LOMP limit (accuracy)")):
        values = [100 * float(lim[key]) for lim in limits if lim.get(key) is not None]
        if values:
            marks[label] = mean_std(values)
    name = snakemake.wildcards.experiment
    save_figure(plot_accuracy(df, marks, title=name), out.accuracy_pdf, out.accuracy_png)
    save_figure(plot_pqi(df, title=name), out.pqi_pdf, out.pqi_png)
    save_figure(plot_layers(df, "sap", title=name), out.layers_pdf, out.layers_png)
    print(f"{len(df)} records; LOMP marks {marks}")


def sap_table() -> None:
    raw = matched_levels(read_runs(snakemake.input.runs), list(snakemake.params.levels))
    write_table(
        raw,
        Path(out.csv).with_suffix(""),
        matched_levels_formatted(raw),
        caption="Test accuracy (%) at matched percent of remaining weights, mean +- std "
        "over seeds (actual remaining percent in brackets).",
    )
    print(raw.to_string())


def pqi_tables() -> None:
    raw, formatted = pqi_table([read_json(p) for p in snakemake.input])
    write_table(
        raw,
        Path(out.csv).with_suffix(""),
        formatted,
        caption="PQ Index of the dense, l1-regularised and l1 pruned (at the actual "
        "limit) networks, mean +- std over seeds.",
    )
    print(raw.to_string())


{"sap_figures": figures, "sap_table": sap_table, "pqi_table": pqi_tables}[snakemake.rule]()
