"""Rules limits_table, limit_figures, predicted_vs_actual (chosen by snakemake.rule)."""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import log_to
from prunelimit.io import read_json
from prunelimit.plotting import save_figure
from prunelimit.plotting.limits import (
    lanczos_convergence,
    phase_transition,
    predicted_vs_actual,
    spectral_density,
)
from prunelimit.tables import limits_table, write_table

log_to(snakemake.log[0])
theories = [read_json(p) for p in snakemake.input.theory]
limits = [read_json(p) for p in snakemake.input.limit]


def records() -> list[dict]:
    exps = snakemake.params.experiments
    metrics = [read_json(p) for p in snakemake.input.get("metrics", [])] or [{}] * len(theories)
    out = []
    for t, lim, met in zip(theories, limits, metrics, strict=True):
        exp = exps[t["experiment"]]
        regime = met.get("regime", {})
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
                "rho_objective": lim["rho_objective"],
                "rho_acc": lim["rho_acc"],
                "val_acc_se": lim["l1"]["val_acc_se"],
                "dense_rho_loss": (lim["dense"] or {}).get("rho_loss", math.nan),
                "dense_rho_acc": (lim["dense"] or {}).get("rho_acc", math.nan),
                "converged": t.get("converged"),
                "in_regime": regime.get("in_regime"),
                "train_converged": met.get("converged"),
                "drift_kept": regime.get("drift_kept"),
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
    save_figure(
        lanczos_convergence(name, theories),
        snakemake.output.lanczos_pdf,
        snakemake.output.lanczos_png,
    )
else:
    save_figure(predicted_vs_actual(records()), snakemake.output.pdf, snakemake.output.png)
