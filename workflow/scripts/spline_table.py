"""Rule spline_table: early-bird epochs and limits; the region-bound allocations."""

from pathlib import Path

import pandas as pd

from _common import log_to
from prunelimit.io import read_csv, read_json
from prunelimit.tables import write_table
from prunelimit.tables.spline import eb_table, regions_table

log_to(snakemake.log[0])
out = snakemake.output
ebs = [read_json(p) for p in snakemake.input.eb]
limits = [read_json(p) for p in snakemake.input.limit]
raw, formatted = eb_table(ebs, limits, snakemake.params.experiments)
caption = (
    "Spline early-bird tickets: detected epoch (mean +- std over seeds where detected) and "
    "the pruning limits of the l1 network (kept ratio in % of D) at the early-bird epoch "
    "and at the end of training."
)
write_table(raw, Path(out.csv).with_suffix(""), formatted, caption)
print(formatted.to_string())
paths = list(snakemake.input.regions)
df = pd.concat([read_csv(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()
raw, formatted = regions_table(df)
caption = (
    "Layer-wise density allocations at the same global density of the hidden weights: "
    "maximising the rank-aware linear-region bound, uniform, and global magnitude; test "
    "accuracy after masked fine-tuning (mean +- std over seeds)."
)
write_table(raw, Path(out.regions_csv).with_suffix(""), formatted, caption)
print(formatted.to_string())
