"""Rule spline_pruning: the watched l1 run's network at its spline early-bird epoch pruned
node-wise by every `spline.pruning` method, scope and kept fraction, each retrained and
evaluated, beside the unpruned reference; resumable by run."""

from pathlib import Path

import pandas as pd

from _common import log_to, run_of
from prunelimit.config.kinds import train_settings
from prunelimit.config.settings import ExperimentSettings, NodePruningSettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import load_run_file, new_model
from prunelimit.io import write_csv, write_json
from prunelimit.methods.early_bird import (
    batchnorm_network,
    early_bird_context,
    node_plan,
    prune_at_early_bird,
)
from prunelimit.runtime import setup

log_to(snakemake.log[0])
prm = snakemake.params
exp, seed = ExperimentSettings.from_dict(prm.exp), int(snakemake.wildcards.seed)
cfg = NodePruningSettings.from_dict(prm.pruning)
device = setup(seed, threads=snakemake.threads, device=prm.device)
data = load_dataset(snakemake.input.data, device)
observed = load_run_file(snakemake.input.watch)
if not observed.get("watched"):
    raise ValueError(f"{snakemake.input.watch}: the l1 run was not watched for early birds")
state = observed["eb_state"]
if state is None:
    print("no early bird was found: the final weights are pruned", flush=True)
    state = load_run_file(snakemake.input.model)
ctx = early_bird_context(
    train_settings(exp, "l1"), observed["detected_epoch"], cfg.retrain_epochs, data, seed
)


def build():
    model = new_model(exp, data)
    model.load_state_dict(state)
    return model.to(device)


runs, skipped = node_plan(cfg.methods, cfg.scopes, cfg.kept, batchnorm_network(build()))
if skipped:
    print(f"left out (the network has no BatchNorm after every node layer): {skipped}")
with run_of(exp.name, seed):
    records = prune_at_early_bird(
        build, ctx, runs, checkpoint=prm.checkpoint, log=lambda s: print(s, flush=True)
    )
columns = {"experiment": exp.name, "seed": seed}
write_csv(snakemake.output.table, pd.DataFrame([{**columns, **r} for r in records]))
info = {"settings": prm.pruning, "skipped": skipped, "retrain": ctx.retrain.as_dict()}
write_json(snakemake.output.records, {**columns, **info, "records": records})
Path(prm.checkpoint).unlink(missing_ok=True)
