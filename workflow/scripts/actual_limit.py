"""Rule actual_limit: one-shot magnitude pruning curves of w* (l1) and of the dense network."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import log_to, run_of
from prunelimit.data import load_dataset
from prunelimit.experiment import (
    CRITERIA,
    load_trained,
    loss_tolerance,
    pruning_curve,
    settings_for,
)
from prunelimit.imported import provenance
from prunelimit.io import read_json, write_json
from prunelimit.runtime import setup

log_to(snakemake.log[0])
seed = int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=snakemake.params.device)
exp, lim = snakemake.params.exp, snakemake.params.limit
data = load_dataset(snakemake.input.data, device)
search = dict(
    resolution=lim["resolution"],
    coarse_points=lim["coarse_points"],
    rho_min=lim.get("rho_min", 0.0005),
)
result = {"experiment": exp["name"], "seed": seed, "dense": None}
for kind in [k for k in ("l1", "dense") if k in snakemake.input.keys()]:
    model = load_trained(exp, data, snakemake.input[kind], device)
    with run_of(exp["name"], seed):
        if kind == "l1":  # the same eps as the theory
            eps = read_json(snakemake.input.theory)["inputs"]["eps"]
        else:
            batch = settings_for(exp, "dense").batch_size
            eps, _ = loss_tolerance(model, data, snakemake.params.eps, batch, seed)
        print(f"{kind}: eps = {eps:.4g}", flush=True)
        l1 = settings_for(exp, kind).l1  # the strength it was trained with (dense: 0)
        result[kind] = pruning_curve(model, data, eps, l1=l1, **search)
for c in CRITERIA:
    result[f"rho_{c}"] = result["l1"][f"rho_{c}"]
print({k: result["l1"][k] for k in ("rho_loss", "rho_objective", "rho_acc", "evaluations")})
result.update(provenance(exp))
write_json(snakemake.output[0], result)
