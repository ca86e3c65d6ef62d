"""Rule sap_table: test accuracy of SAP/LT/OS and LOMP at matched remaining-weight levels."""

from pathlib import Path

from _common import log_to
from prunelimit.tables import write_table
from prunelimit.tables.sap import matched_levels, matched_levels_formatted, read_runs

log_to(snakemake.log[0])
raw = matched_levels(read_runs(snakemake.input.runs), list(snakemake.params.levels))
write_table(
    raw,
    Path(snakemake.output.csv).with_suffix(""),
    matched_levels_formatted(raw),
    caption="Test accuracy (%) at matched percent of remaining weights, mean +- std "
    "over seeds (actual remaining percent in brackets); LOMP: the l1 network one-shot "
    "pruned, no retraining.",
)
print(raw.to_string())
