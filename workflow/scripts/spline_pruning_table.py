"""Rule spline_pruning_table: every node method's accuracy, kept weights and training FLOPs at
every kept node fraction, against the unpruned network retrained as long."""

from pathlib import Path

from _common import log_to
from prunelimit.tables import write_table
from prunelimit.tables.spline_pruning import pruning_table, read_records

log_to(snakemake.log[0])
raw, shown = pruning_table(read_records(snakemake.input.runs), dict(snakemake.params.titles))
write_table(
    raw,
    Path(snakemake.output.csv).with_suffix(""),
    shown,
    caption="Node pruning at the spline early bird: test accuracy (%) after retraining (mean "
    "+- std over seeds) and right after pruning, kept nodes (target and actual %) and kept "
    "weights (%), training FLOPs (3 x forward FLOPs x samples x epochs: dense epochs to the "
    "early bird, then the pruned network's retraining) and the saving against the unpruned "
    "network retrained as long.",
)
print(shown.to_string())
