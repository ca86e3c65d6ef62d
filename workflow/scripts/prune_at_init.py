"""Rule prune_at_init: a method that prunes at the initialisation (Smart-Ratio, Rare Gems,
random) at every `compare.levels` level, each network trained from the initialisation under its
mask with the budget of `compare.budget`; resumable by level."""

from pathlib import Path

import pandas as pd

from _common import log_to
from prunelimit.config.kinds import start_settings
from prunelimit.config.settings import ExperimentSettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import new_model
from prunelimit.io import write_csv, write_json
from prunelimit.methods.at_init import prune_at_init
from prunelimit.methods.registry import InitContext, get_method
from prunelimit.runtime import setup

log_to(snakemake.log[0])
prm = snakemake.params
exp, seed = ExperimentSettings.from_dict(prm.exp), int(snakemake.wildcards.seed)
method = get_method(snakemake.wildcards.init_method)
device = setup(seed, threads=snakemake.threads, device=prm.device)
data = load_dataset(snakemake.input.data, device)
budget = start_settings(exp, prm.budget, int(prm.epochs))
ctx = InitContext(data, seed, budget, dict(prm.settings), exp.model)
records = prune_at_init(
    method,
    lambda: new_model(exp, data, seed=seed).to(device),
    ctx,
    list(prm.levels),
    checkpoint=prm.checkpoint,
    log=lambda s: print(s, flush=True),
)
columns = {"experiment": exp.name, "method": method.name, "scope": "global", "seed": seed}
write_csv(snakemake.output.table, pd.DataFrame([{**columns, **r} for r in records]))
write_json(snakemake.output.records, {**columns, "settings": prm.settings, "records": records})
Path(prm.checkpoint).unlink(missing_ok=True)
