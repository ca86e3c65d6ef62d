"""Rule spectrum: Hessian spectrum at w* (the l1-trained weights)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import log_to, run_of
from prunelimit.data import load_dataset
from prunelimit.experiment import load_trained, settings_for, spectrum_of
from prunelimit.imported import provenance
from prunelimit.io import write_json
from prunelimit.runtime import setup

log_to(snakemake.log[0])
h = snakemake.params.hessian
device = setup(h["seed"], threads=snakemake.threads, device=snakemake.params.device)
data = load_dataset(snakemake.input.data, device)
model = load_trained(snakemake.params.exp, data, snakemake.input.model, device)
exp, seed = snakemake.params.exp, int(snakemake.wildcards.seed)
with run_of(exp["name"], seed):
    result = spectrum_of(
        model,
        data,
        h,
        snakemake.params.theory,
        batch_size=settings_for(exp, "l1").batch_size,
        seed=seed,
    )
print({k: v for k, v in result.items() if k not in ("nodes", "weights", "alpha", "beta")})
result.update(provenance(exp))
write_json(snakemake.output[0], result)
