"""Rule sap_figures: accuracy (with LOMP), PQ Index and layer densities along the pruning
iterations."""

from _common import log_to
from prunelimit.io import read_json
from prunelimit.plotting import save_figure
from prunelimit.plotting.sap import limit_marks, plot_accuracy, plot_layers, plot_pqi
from prunelimit.tables.methods import read_runs

log_to(snakemake.log[0])
out, name = snakemake.output, snakemake.wildcards.experiment
df = read_runs(snakemake.input.runs)
marks = limit_marks([read_json(p) for p in snakemake.input.limits])
save_figure(plot_accuracy(df, marks, title=name), out.accuracy_pdf, out.accuracy_png)
iterative = df[df["method"] != "lomp"]  # LOMP has no iterations to show PQI of
save_figure(plot_pqi(iterative, title=name), out.pqi_pdf, out.pqi_png)
save_figure(plot_layers(df, "sap", title=name), out.layers_pdf, out.layers_png)
print(f"{len(df)} records; LOMP marks {marks}")
