"""Rule methods_table: every pruning method's test accuracy at matched remaining-weight levels,
with each row's budget and the accuracy of its start."""

from pathlib import Path

from _common import log_to
from prunelimit.tables import write_table
from prunelimit.tables.methods import methods_table, read_runs

log_to(snakemake.log[0])
raw, shown = methods_table(
    read_runs(snakemake.input.runs), list(snakemake.params.levels), list(snakemake.params.iterative)
)
write_table(
    raw,
    Path(snakemake.output.csv).with_suffix(""),
    shown,
    caption="Test accuracy (%) at matched percent of remaining weights, mean +- std over the "
    "seeds used (actual remaining percent in brackets); budget: epochs the network trained "
    "itself (of all spent), from what, schedule; start acc: the network each method starts from.",
)
print(shown.to_string())
