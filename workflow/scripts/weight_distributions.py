"""Rule weight_distributions: every network's weight-magnitude distribution, where the limits
cut it, and the total-variation distance between the seeds of each network."""

from pathlib import Path

from _common import log_to
from prunelimit.io import read_json
from prunelimit.limit.weights import seed_distances
from prunelimit.plotting import save_figure
from prunelimit.plotting.weights import weight_distributions
from prunelimit.tables import write_table

log_to(snakemake.log[0])
theories = [read_json(p) for p in [*snakemake.input.theory, *snakemake.input.kind_theory]]
limits = [read_json(p) for p in snakemake.input.limit]
distances = seed_distances(theories)
print(distances.to_string())
caption = (
    "Total-variation distance between the weight-magnitude distributions (0.05-decade bins of "
    "log10 |w|, exact zeros a bin) of every pair of seeds of a network, and its scale under "
    "sampling alone (tv_sampling)."
)
out = Path(snakemake.output.csv).with_suffix("")
write_table(distances, out, distances.round({"tv": 4, "tv_sampling": 4}), caption)
save_figure(weight_distributions(theories, limits), snakemake.output.pdf, snakemake.output.png)
