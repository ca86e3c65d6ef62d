"""Rule spline_figures: code distances with the early-bird epoch, the partition during training,
and the limits at the early bird."""

from _common import log_to
from prunelimit.io import read_csv, read_json, read_npz
from prunelimit.plotting import save_figure
from prunelimit.plotting.spline import early_bird, eb_limit, trajectory

log_to(snakemake.log[0])
out, name = snakemake.output, snakemake.wildcards.experiment
ebs = [read_json(p) for p in snakemake.input.eb]
mats = [read_csv(p, index_col=0).to_numpy() for p in snakemake.input.distances]
fig = early_bird(name, ebs, mats, snakemake.params.threshold, snakemake.params.window)
save_figure(fig, out.eb_pdf, out.eb_png)
limits = [read_json(p) for p in snakemake.input.limit]
save_figure(eb_limit(name, limits), out.limit_pdf, out.limit_png)
paths = [read_npz(p) for p in snakemake.input.trajectory]
save_figure(trajectory(name, ebs, paths), out.trajectory_pdf, out.trajectory_png)
