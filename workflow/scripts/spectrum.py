"""Rules spectrum, kind_spectrum: Hessian spectrum at w* (the l1-trained weights; or at the
dense or l2 network)."""

from _common import log_to, run_of
from prunelimit.config.kinds import train_settings
from prunelimit.config.settings import ExperimentSettings, HessianSettings, TheorySettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import load_trained
from prunelimit.io import write_json
from prunelimit.limit.prediction import spectrum_of
from prunelimit.runtime import setup
from prunelimit.training.imported import provenance

log_to(snakemake.log[0])
exp, seed = ExperimentSettings.from_dict(snakemake.params.exp), int(snakemake.wildcards.seed)
h = HessianSettings.from_dict(snakemake.params.hessian)
device = setup(h.seed, threads=snakemake.threads, device=snakemake.params.device)
data = load_dataset(snakemake.input.data, device)
model = load_trained(exp, data, snakemake.input.model, device)
with run_of(exp.name, seed):
    result = spectrum_of(
        model,
        data,
        h,
        TheorySettings.from_dict(snakemake.params.theory),
        batch_size=train_settings(exp, snakemake.params.kind).batch_size,
        seed=seed,
    )
print({k: v for k, v in result.items() if k not in ("nodes", "weights", "alpha", "beta")})
result.update(kind=snakemake.params.kind, **provenance(exp))
write_json(snakemake.output[0], result)
