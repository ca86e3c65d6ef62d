"""Rule spline_partition_figure: the partition as weights and nodes are pruned, rows per spline
experiment."""

from _common import log_to
from prunelimit.io import read_json, read_npz
from prunelimit.plotting import save_figure
from prunelimit.plotting.partition import partition

log_to(snakemake.log[0])
records = [read_json(p) for p in snakemake.input.records]
arrays = [read_npz(p) for p in snakemake.input.arrays]
save_figure(partition(records, arrays), snakemake.output.pdf, snakemake.output.png)
