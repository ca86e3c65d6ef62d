"""Rule gradual_figure: kept fraction against the pruning iteration (schedule, theory, actual)."""

from _common import log_to
from prunelimit.io import read_json
from prunelimit.plotting import save_figure
from prunelimit.plotting.gradual import gradual_figure

log_to(snakemake.log[0])
runs = [read_json(p) for p in snakemake.input]
fig = gradual_figure(snakemake.wildcards.experiment, runs)
save_figure(fig, snakemake.output.pdf, snakemake.output.png)
