"""Rule spline_partition_figure: the partition at the limit, one row per spline experiment."""

import numpy as np

from _common import log_to
from prunelimit.io import read_json
from prunelimit.plotting import save_figure
from prunelimit.plotting.spline import partition

log_to(snakemake.log[0])
records = [read_json(p) for p in snakemake.input.records]
arrays = []
for path in snakemake.input.arrays:
    with np.load(path) as f:
        arrays.append({k: f[k] for k in f.files})
save_figure(partition(records, arrays), snakemake.output.pdf, snakemake.output.png)
