"""Rule limit_figures: phase transition, spectral density, Lanczos convergence, the local
model, the theory's prediction along the pruning path and the Hessian rows at the magnitude
thresholds of one experiment."""

from _common import log_to
from prunelimit.io import read_json
from prunelimit.plotting import save_figure
from prunelimit.plotting.limit_appendix import hessian_row_norms, theory_curves
from prunelimit.plotting.limits import (
    lanczos_convergence,
    local_model,
    phase_transition,
    spectral_density,
)

log_to(snakemake.log[0])
out = snakemake.output
name = snakemake.wildcards.experiment
theories = [read_json(p) for p in snakemake.input.theory]
limits = [read_json(p) for p in snakemake.input.limit]
spectra = [read_json(p) for p in snakemake.input.spectrum]
kind_theories = [read_json(p) for p in snakemake.input.kind_theory]
figure = phase_transition(name, theories, limits, kind_theories)
save_figure(figure, out.transition_pdf, out.transition_png)
save_figure(spectral_density(name, spectra, theories), out.spectrum_pdf, out.spectrum_png)
save_figure(lanczos_convergence(name, theories), out.lanczos_pdf, out.lanczos_png)
save_figure(local_model(name, theories, limits), out.local_pdf, out.local_png)
figure = theory_curves(name, theories, limits, kind_theories)
save_figure(figure, out.theory_curve_pdf, out.theory_curve_png)
figure = hessian_row_norms(name, [read_json(p) for p in snakemake.input.rows], theories, limits)
save_figure(figure, out.rows_pdf, out.rows_png)
