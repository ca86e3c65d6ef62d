"""Rule regularisation_figure: the theory's threshold without and with l2 regularisation at
fixed kept ratios, against the projection distance R (limit paper, Fig. 4 bottom)."""

from _common import log_to
from prunelimit.io import read_json
from prunelimit.plotting import save_figure
from prunelimit.plotting.regularisation import ratio_rows, regularisation_figure

log_to(snakemake.log[0])
networks = [
    (read_json(t), read_json(s))
    for t, s in zip(snakemake.input.theory, snakemake.input.spectrum, strict=True)
]
print(ratio_rows(networks).to_string())
save_figure(regularisation_figure(networks), snakemake.output.pdf, snakemake.output.png)
