"""Rule ntk_figures: figures and table of the NTK stage."""

from pathlib import Path

from _common import log_to
from prunelimit.io import read_csv
from prunelimit.plotting import save_figure
from prunelimit.plotting.ntk import (
    plot_gram_distance,
    plot_ntk_deviation,
    plot_ntk_value,
    plot_rescaling,
    plot_width_needed,
)
from prunelimit.tables import write_table
from prunelimit.tables.ntk import deviation_caption, deviation_table

log_to(snakemake.log[0])
out = snakemake.output
tol = float(snakemake.params.tolerance)
sweep = read_csv(snakemake.input.sweep)
gram = read_csv(snakemake.input.gram)

save_figure(plot_ntk_value(sweep), out.value_pdf, out.value_png)
save_figure(plot_ntk_deviation(sweep, tol), out.deviation_pdf, out.deviation_png)
save_figure(plot_width_needed(sweep, tol), out.width_pdf, out.width_png)
save_figure(plot_rescaling(sweep), out.rescaling_pdf, out.rescaling_png)
save_figure(plot_gram_distance(gram), out.gram_pdf, out.gram_png)

raw, formatted = deviation_table(sweep, tol)
write_table(raw, Path(out.csv).with_suffix(""), formatted, deviation_caption(sweep, tol))
print("figures and table written")
