"""Rule ntk_figures: figures and table of the NTK stage."""

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import log_to  # noqa: E402
from prunelimit.ntk import deviation_table  # noqa: E402
from prunelimit.plotting.ntk import (  # noqa: E402
    plot_gram_distance,
    plot_ntk_deviation,
    plot_ntk_value,
    plot_rescaling,
    plot_width_needed,
)
from prunelimit.tables import write_table  # noqa: E402

log_to(snakemake.log[0])
out = snakemake.output
tol = float(snakemake.params.tolerance)
sweep = pd.read_csv(snakemake.input.sweep)
gram = pd.read_csv(snakemake.input.gram)

plot_ntk_value(sweep, out.value_pdf, out.value_png)
plot_ntk_deviation(sweep, tol, out.deviation_pdf, out.deviation_png)
plot_width_needed(sweep, tol, out.width_pdf, out.width_png)
plot_rescaling(sweep, out.rescaling_pdf, out.rescaling_png)
plot_gram_distance(gram, out.gram_pdf, out.gram_png)

raw, formatted = deviation_table(sweep, tol)
write_table(
    raw,
    Path(out.csv).with_suffix(""),
    formatted,
    caption=(
        f"Mean +- std over draws of |Theta_hat - Theta_inf| (two unit inputs, "
        f"Theta_inf = {sweep['theta_inf'].iloc[0]:.5f}) per width and pruning probability p; "
        f"the smallest swept width with mean deviation <= {tol:g}, and where a power-law fit "
        f"of the mean deviation (widths >= 128) crosses it (extrapolated beyond the sweep)."
    ),
)
print("figures and table written")
