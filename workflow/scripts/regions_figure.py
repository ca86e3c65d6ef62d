"""Rule regions_figure: accuracy and region bound of the layer-density allocations."""

import pandas as pd

from _common import log_to
from prunelimit.io import read_csv
from prunelimit.plotting import save_figure
from prunelimit.plotting.spline import regions

log_to(snakemake.log[0])
df = pd.concat([read_csv(p) for p in snakemake.input.regions], ignore_index=True)
fig = regions(snakemake.wildcards.experiment, df)
save_figure(fig, snakemake.output.pdf, snakemake.output.png)
