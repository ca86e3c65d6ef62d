"""Rule key_factors: every network's limits against flatness and removed magnitude."""

from pathlib import Path

from _common import log_to
from prunelimit.io import read_json
from prunelimit.plotting import save_figure
from prunelimit.plotting.key_factors import key_factor_rows, key_factors
from prunelimit.tables import write_table

log_to(snakemake.log[0])
rows = key_factor_rows(
    [read_json(p) for p in [*snakemake.input.theory, *snakemake.input.kind_theory]],
    [read_json(p) for p in snakemake.input.limit],
)
print(rows.to_string())
caption = (
    "Key factors of the limit per network: flatness Tr|H|/D, removed magnitude R(rho_th)^2/(2 "
    "eps), the key factor s = R^2 Tr|H|/(2 eps D), its bound s/(1+s) on rho_th, and the limits "
    "(fractions of D)."
)
write_table(rows, Path(snakemake.output.csv).with_suffix(""), rows.round(6), caption)
save_figure(key_factors(rows), snakemake.output.pdf, snakemake.output.png)
