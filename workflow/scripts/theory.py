"""Rule theory: eps, R(rho), delta by quadrature, rho_th and its bounds."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import log_to, run_of
from prunelimit.data import load_dataset
from prunelimit.experiment import load_trained, settings_for, theory_of
from prunelimit.imported import provenance
from prunelimit.io import read_json, write_json
from prunelimit.runtime import setup

log_to(snakemake.log[0])
seed = int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=snakemake.params.device)
exp, cfg = snakemake.params.exp, snakemake.params.theory
data = load_dataset(snakemake.input.data, device)
model = load_trained(exp, data, snakemake.input.model, device)
with run_of(exp["name"], seed):
    result = theory_of(
        model,
        data,
        read_json(snakemake.input.spectrum),
        cfg["eps"],
        cfg["negative"],
        batch_size=settings_for(exp, "l1").batch_size,
        seed=seed,
        convergence_tol=cfg["convergence_tol"],  # the schema's default is filled in
    )
result.update(experiment=exp["name"], seed=seed)
print({k: v for k, v in result.items() if k not in ("curve", "convergence")})
result.update(provenance(exp))
write_json(snakemake.output[0], result)
