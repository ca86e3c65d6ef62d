"""Rules spline_figures, regions_figure and spline_table (chosen by snakemake.rule)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pandas as pd

from _common import log_to
from prunelimit.io import read_json
from prunelimit.plotting import save_figure
from prunelimit.plotting.spline import early_bird, eb_limit, regions
from prunelimit.tables import eb_table, regions_table, write_table

log_to(snakemake.log[0])


if snakemake.rule == "spline_figures":
    name = snakemake.wildcards.experiment
    ebs = [read_json(p) for p in snakemake.input.eb]
    mats = [pd.read_csv(p, index_col=0).to_numpy() for p in snakemake.input.distances]
    fig = early_bird(name, ebs, mats, snakemake.params.threshold, snakemake.params.window)
    save_figure(fig, snakemake.output.eb_pdf, snakemake.output.eb_png)
    limits = [read_json(p) for p in snakemake.input.limit]
    save_figure(eb_limit(name, limits), snakemake.output.limit_pdf, snakemake.output.limit_png)
elif snakemake.rule == "regions_figure":
    df = pd.concat([pd.read_csv(p) for p in snakemake.input.regions], ignore_index=True)
    fig = regions(snakemake.wildcards.experiment, df)
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
else:  # spline_table
    ebs = [read_json(p) for p in snakemake.input.eb]
    limits = [read_json(p) for p in snakemake.input.limit]
    raw, formatted = eb_table(ebs, limits, snakemake.params.experiments)
    caption = (
        "Spline early-bird tickets: detected epoch (mean +- std over seeds where detected) and "
        "the pruning limits of the l1 network (kept ratio in % of D) at the early-bird epoch "
        "and at the end of training."
    )
    write_table(raw, Path(snakemake.output.csv).with_suffix(""), formatted, caption)
    print(formatted.to_string())
    paths = list(snakemake.input.regions)
    df = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()
    raw, formatted = regions_table(df)
    caption = (
        "Layer-wise density allocations at the same global density of the hidden weights: "
        "maximising the rank-aware linear-region bound, uniform, and global magnitude; test "
        "accuracy after masked fine-tuning (mean +- std over seeds)."
    )
    write_table(raw, Path(snakemake.output.regions_csv).with_suffix(""), formatted, caption)
    print(formatted.to_string())
