"""Rules limits_table, limit_figures, predicted_vs_actual (chosen by snakemake.rule)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import log_to
from prunelimit.io import read_json
from prunelimit.plotting import save_figure
from prunelimit.plotting.limits import phase_transition, predicted_vs_actual, spectral_density
from prunelimit.tables import limits_table, write_table

log_to(snakemake.log[0])
theories = [read_json(p) for p in snakemake.input.theory]
limits = [read_json(p) for p in snakemake.input.limit]


def records() -> list[dict]:
    exps = snakemake.params.experiments
    out = []
    for t, lim in zip(theories, limits, strict=True):
        exp = exps[t["experiment"]]
        out.append(
            {
                "experiment": t["experiment"],
                "dataset": exp["dataset"],
                "model": exp["model"],
                "seed": t["seed"],
                "D": t["inputs"]["D"],
                "rho_th": t["rho_th"],
                "rho_lower": t["rho_lower"],
                "rho_upper": t["rho_upper"],
                "rho_loss": lim["rho_loss"],
                "rho_acc": lim["rho_acc"],
                "dense_rho_loss": lim["dense"]["rho_loss"],
                "dense_rho_acc": lim["dense"]["rho_acc"],
            }
        )
    return out


if snakemake.rule == "limits_table":
    raw, formatted = limits_table(records())
    caption = (
        "Pruning limits, kept ratio in % of D (mean +- std over seeds). Columns marked "
        "'paper:' are the published numbers (Zhang et al., NeurIPS 2024) for the same "
        "dataset and model, not our runs."
    )
    write_table(raw, Path(snakemake.output.csv).with_suffix(""), formatted, caption)
    print(formatted.to_string())
elif snakemake.rule == "limit_figures":
    name = snakemake.wildcards.experiment
    save_figure(
        phase_transition(name, theories, limits),
        snakemake.output.transition_pdf,
        snakemake.output.transition_png,
    )
    spectra = [read_json(p) for p in snakemake.input.spectrum]
    save_figure(
        spectral_density(name, spectra, theories),
        snakemake.output.spectrum_pdf,
        snakemake.output.spectrum_png,
    )
else:
    save_figure(predicted_vs_actual(records()), snakemake.output.pdf, snakemake.output.png)
