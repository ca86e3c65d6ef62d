"""Rule limits_table: theory against the actual limits, one row per experiment."""

from pathlib import Path

from _common import log_to
from prunelimit.io import read_json
from prunelimit.tables import write_table
from prunelimit.tables.limits import limit_records, limits_table, spectra_table

log_to(snakemake.log[0])
theories = [read_json(p) for p in snakemake.input.theory]
records = limit_records(
    theories,
    [read_json(p) for p in snakemake.input.limit],
    [read_json(p) for p in snakemake.input.metrics],
    snakemake.params.experiments,
    [read_json(p) for p in snakemake.input.kind_theory],
)
raw, formatted = limits_table(records)
caption = (
    "Pruning limits, kept ratio in % of D (mean +- std over seeds). Columns marked "
    "'paper:' are the published numbers (Zhang et al., NeurIPS 2024) for the same "
    "dataset and model, not our runs."
)
write_table(raw, Path(snakemake.output.csv).with_suffix(""), formatted, caption)
print(formatted.to_string())

raw, formatted = spectra_table(theories)
caption = (
    "Hessian spectra behind the limits: traces +- their standard error over probes; Tr|H| and "
    "the negative mass with whether they are resolved (stable from m/2 to m Lanczos steps); "
    "the near-zero mass is the weight of Ritz values within the tolerance of zero."
)
write_table(raw, Path(snakemake.output.spectra_csv).with_suffix(""), formatted, caption)
print(formatted.to_string())
