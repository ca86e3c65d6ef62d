"""Rule gradual_table: the limits at the chosen pruning iterations, of the surviving and of the
original weights."""

from pathlib import Path

from _common import log_to
from prunelimit.io import read_json
from prunelimit.tables import write_table
from prunelimit.tables.gradual import CAPTION, gradual_table

log_to(snakemake.log[0])
raw, formatted = gradual_table([read_json(p) for p in snakemake.input])
write_table(raw, Path(snakemake.output.csv).with_suffix(""), formatted, CAPTION)
print(formatted.to_string())
