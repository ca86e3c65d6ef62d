"""Rule gradual: the limits of the retrained network at the chosen iterations of the watched
Lottery Ticket run, over its surviving weights (nothing is retrained)."""

from pathlib import Path

from _common import log_to, run_of
from prunelimit.config.kinds import start_settings
from prunelimit.config.settings import (
    ExperimentSettings,
    HessianSettings,
    LimitSettings,
    TheorySettings,
)
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import new_model
from prunelimit.io import load_torch, read_json, write_json
from prunelimit.limit.gradual import gradual_limits
from prunelimit.runtime import setup

log_to(snakemake.log[0])
prm = snakemake.params
exp, seed = ExperimentSettings.from_dict(prm.exp), int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=prm.device)
data = load_dataset(snakemake.input.data, device)
run = read_json(snakemake.input.records)
with run_of(exp.name, seed):
    result = gradual_limits(
        new_model(exp, data, seed=seed).to(device),
        load_torch(snakemake.input.states),
        run["records"],
        data,
        HessianSettings.from_dict(prm.hessian),
        TheorySettings.from_dict(prm.theory),
        LimitSettings.from_dict(prm.limit),
        start_settings(exp, prm.budget, int(run["hyper"]["epochs"])).batch_size,  # eps: auto
        seed,
        checkpoint=prm.checkpoint,  # resumed after the last finished iteration
    )
meta = {k: run[k] for k in ("experiment", "method", "scope", "seed")}
write_json(snakemake.output[0], {**meta, "hyper": run["hyper"], **result})
Path(prm.checkpoint).unlink(missing_ok=True)
