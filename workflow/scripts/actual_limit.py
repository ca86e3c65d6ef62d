"""Rule actual_limit: one-shot magnitude pruning curves of w* (l1), of the dense network and of
the l2 one (if trained), each at the eps of its theory."""

from _common import log_to, run_of
from prunelimit.config.kinds import OTHER_KINDS, train_settings
from prunelimit.config.settings import ExperimentSettings, LimitSettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import load_trained
from prunelimit.io import read_json, write_json
from prunelimit.limit.actual import actual_limit_of
from prunelimit.methods.registry import get_method
from prunelimit.runtime import setup
from prunelimit.training.imported import provenance

log_to(snakemake.log[0])
exp, seed = ExperimentSettings.from_dict(snakemake.params.exp), int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=snakemake.params.device)
data = load_dataset(snakemake.input.data, device)
kinds = [k for k in ("l1", *OTHER_KINDS) if k in snakemake.input.keys()]
models = {k: load_trained(exp, data, snakemake.input[k], device) for k in kinds}
theory = read_json(snakemake.input.theory)
eps = {k: snakemake.params.eps for k in kinds}  # the theory setting, for a network without one
eps["l1"] = theory["inputs"]["eps"]  # each network's own theory's eps, where it has one
for k in kinds:
    if f"{k}_theory" in snakemake.input.keys():
        eps[k] = read_json(snakemake.input[f"{k}_theory"])["inputs"]["eps"]
limit = LimitSettings.from_dict(snakemake.params.limit)
with run_of(exp.name, seed):
    result = actual_limit_of(
        models,
        {k: train_settings(exp, k) for k in kinds},
        data,
        eps,
        limit,
        seed,
        rho_th=theory["rho_th"],
        hessian_batch=snakemake.params.hessian_batch,  # an int or auto
        memory_gb=snakemake.params.hessian_memory_gb,  # GB or auto
        path_of=get_method(limit.method).path(seed),  # global magnitude unless limit.method
    )
print({k: result["l1"][k] for k in ("rho_loss", "rho_objective", "rho_acc", "evaluations")})
write_json(snakemake.output[0], {"experiment": exp.name, **result, **provenance(exp)})
