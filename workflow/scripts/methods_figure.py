"""Rule methods_figure: every compared method's test accuracy against the remaining weights."""

from _common import log_to
from prunelimit.plotting import save_figure
from prunelimit.plotting.methods import plot_methods
from prunelimit.tables.methods import read_runs

log_to(snakemake.log[0])
prm = snakemake.params
fig = plot_methods(
    read_runs(snakemake.input.runs),
    list(prm.iterative),
    dict(prm.titles),
    title=f"{snakemake.wildcards.experiment}: pruning methods at matched sparsity",
)
save_figure(fig, snakemake.output.pdf, snakemake.output.png)
