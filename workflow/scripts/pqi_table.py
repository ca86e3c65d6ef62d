"""Rule pqi_table: PQ Index of the trained networks, mean +- std over seeds."""

from pathlib import Path

from _common import log_to
from prunelimit.io import read_json
from prunelimit.tables import write_table
from prunelimit.tables.sap import pqi_table

log_to(snakemake.log[0])
raw, formatted = pqi_table([read_json(p) for p in snakemake.input])
write_table(
    raw,
    Path(snakemake.output.csv).with_suffix(""),
    formatted,
    caption="PQ Index of the dense, l1-regularised and l1 pruned (at the actual "
    "limit) networks, mean +- std over seeds.",
)
print(raw.to_string())
