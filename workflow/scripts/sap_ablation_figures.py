"""Rule sap_ablation_figures: PQ Index, accuracy and remaining weights per iteration of SAP
at each ablation setting, global scope (Diao et al. Fig. 4: (p, q); Fig. 5: (eta_r, gamma))."""

import pandas as pd

from _common import log_to
from prunelimit.io import read_csv
from prunelimit.plotting import save_figure
from prunelimit.plotting.sap import plot_ablation

log_to(snakemake.log[0])
out, name = snakemake.output, snakemake.wildcards.experiment
for family in ("pq", "eta_gamma"):
    paths, settings = snakemake.input[family], snakemake.params[family]
    frames = [read_csv(p).assign(**s) for p, s in zip(paths, settings, strict=True)]
    df = pd.concat(frames, ignore_index=True)
    fig = plot_ablation(df, family, base=settings[0], title=name)
    save_figure(fig, out[f"{family}_pdf"], out[f"{family}_png"])
    print(family, df.groupby(["p", "q", "eta_r", "gamma"])["percent"].min().to_string())
