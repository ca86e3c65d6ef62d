"""Rule sap: the iterative pruning runs of one registered strategy in every scope, for one
experiment and seed, from the shared dense start; resumable."""

from pathlib import Path

import pandas as pd

from _common import log_to
from prunelimit.config.kinds import start_settings
from prunelimit.config.settings import ExperimentSettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import prune_experiment
from prunelimit.io import load_torch, save_torch, write_csv, write_json
from prunelimit.limit.gradual import IterationKeeper
from prunelimit.methods.budget import iterative_budgets
from prunelimit.runtime import setup
from prunelimit.sap.iterative import records_frame

log_to(snakemake.log[0])
prm = snakemake.params
exp, hyper, method = ExperimentSettings.from_dict(prm.exp), prm.hyper, snakemake.wildcards.method
seed = int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=prm.device)
data = load_dataset(snakemake.input.data, device)
start = load_torch(snakemake.input.start)
train = start_settings(exp, prm.budget, int(hyper["epochs"]))
budgets = pd.DataFrame(iterative_budgets(train, int(hyper["epochs"]), int(hyper["iterations"])))
out = snakemake.output
outputs = (prm.scopes, out.tables, out.records, prm.checkpoints, out.states)
for scope, table, records_path, checkpoint, states in zip(*outputs, strict=True):
    keeper = IterationKeeper(prm.keep[scope])  # the retrained weights the gradual stage needs
    records = prune_experiment(
        exp, data, method, scope, hyper, seed, device, checkpoint, start, train, observer=keeper
    )
    columns = {"experiment": exp.name, "method": method, "scope": scope, "seed": seed}
    frame = records_frame(records, **columns, start_acc=start["test_acc"])
    write_csv(table, frame.join(budgets))
    write_json(records_path, {**columns, "hyper": hyper, "records": records})
    save_torch(states, keeper.saved())
for checkpoint in prm.checkpoints:  # only now: a killed job resumes every scope it finished
    Path(checkpoint).unlink(missing_ok=True)
