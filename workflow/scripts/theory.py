"""Rules theory, kind_theory: eps, R(rho), delta by quadrature, rho_th and its bounds (of the
l1 network; or of the dense or l2 one)."""

from _common import log_to, run_of
from prunelimit.config.kinds import train_settings
from prunelimit.config.settings import ExperimentSettings, TheorySettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import load_trained
from prunelimit.io import read_json, write_json
from prunelimit.limit.prediction import theory_of
from prunelimit.runtime import setup
from prunelimit.training.imported import provenance

log_to(snakemake.log[0])
exp, seed = ExperimentSettings.from_dict(snakemake.params.exp), int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=snakemake.params.device)
data = load_dataset(snakemake.input.data, device)
model = load_trained(exp, data, snakemake.input.model, device)
with run_of(exp.name, seed):
    result = theory_of(
        model,
        data,
        read_json(snakemake.input.spectrum),
        TheorySettings.from_dict(snakemake.params.theory),
        batch_size=train_settings(exp, snakemake.params.kind).batch_size,
        seed=seed,
    )
result.update(experiment=exp.name, seed=seed, kind=snakemake.params.kind)
print({k: v for k, v in result.items() if k not in ("curve", "convergence")})
result.update(provenance(exp))
write_json(snakemake.output[0], result)
