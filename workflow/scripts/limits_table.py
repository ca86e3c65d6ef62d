"""Rule limits_table: theory against the actual limits, one row per experiment."""

from pathlib import Path

from _common import log_to
from prunelimit.io import read_json
from prunelimit.tables import write_table
from prunelimit.tables.limits import limit_records, limits_table

log_to(snakemake.log[0])
records = limit_records(
    [read_json(p) for p in snakemake.input.theory],
    [read_json(p) for p in snakemake.input.limit],
    [read_json(p) for p in snakemake.input.metrics],
    snakemake.params.experiments,
)
raw, formatted = limits_table(records)
caption = (
    "Pruning limits, kept ratio in % of D (mean +- std over seeds). Columns marked "
    "'paper:' are the published numbers (Zhang et al., NeurIPS 2024) for the same "
    "dataset and model, not our runs."
)
write_table(raw, Path(snakemake.output.csv).with_suffix(""), formatted, caption)
print(formatted.to_string())
