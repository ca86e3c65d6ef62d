"""Rule spline_pruning_figure: accuracy against kept nodes and against training FLOPs."""

from _common import log_to
from prunelimit.plotting import save_figure
from prunelimit.plotting.spline_pruning import plot_spline_pruning
from prunelimit.tables.spline_pruning import read_records

log_to(snakemake.log[0])
fig = plot_spline_pruning(
    read_records(snakemake.input.runs),
    dict(snakemake.params.titles),
    title=f"{snakemake.wildcards.experiment}: node pruning at the spline early bird",
)
save_figure(fig, snakemake.output.pdf, snakemake.output.png)
