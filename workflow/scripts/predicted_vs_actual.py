"""Rule predicted_vs_actual: rho_th against the actual limits over every experiment and seed."""

from _common import log_to
from prunelimit.io import read_json
from prunelimit.plotting import save_figure
from prunelimit.plotting.limits import predicted_vs_actual
from prunelimit.tables.limits import limit_records

log_to(snakemake.log[0])
records = limit_records(
    [read_json(p) for p in snakemake.input.theory],
    [read_json(p) for p in snakemake.input.limit],
    [],
    snakemake.params.experiments,
)
save_figure(predicted_vs_actual(records), snakemake.output.pdf, snakemake.output.png)
