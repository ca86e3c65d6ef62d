"""Rule sap_dense: iteration 0 of every SAP/LT/OS run of a seed (the dense network trained from
the initialisation with the budget of `compare.budget`), trained once."""

from pathlib import Path

from _common import log_to
from prunelimit.config.kinds import start_settings
from prunelimit.config.settings import ExperimentSettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import new_model
from prunelimit.io import save_torch
from prunelimit.runtime import setup
from prunelimit.sap.iterative import dense_start

log_to(snakemake.log[0])
prm = snakemake.params
exp, seed = ExperimentSettings.from_dict(prm.exp), int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=prm.device)
data = load_dataset(snakemake.input.data, device)
start = dense_start(
    lambda: new_model(exp, data, seed=seed).to(device),
    data,
    start_settings(exp, prm.budget, int(prm.epochs)),
    seed,
    checkpoint=f"{prm.checkpoint}.iter",
    log=lambda s: print(s, flush=True),
)
save_torch(snakemake.output[0], start)
Path(f"{prm.checkpoint}.iter").unlink(missing_ok=True)
