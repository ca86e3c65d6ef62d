"""Rule sap_ablation: one SAP run in the global scope at the (p, q, eta_r, gamma) of its output's
name (Diao et al.'s ablations), from the shared dense start; resumable."""

from pathlib import Path

from _common import log_to
from prunelimit.config.kinds import start_settings
from prunelimit.config.settings import ExperimentSettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import prune_experiment
from prunelimit.io import load_torch, write_csv, write_json
from prunelimit.runtime import setup
from prunelimit.sap.iterative import records_frame

log_to(snakemake.log[0])
prm = snakemake.params
exp, hyper, seed = ExperimentSettings.from_dict(prm.exp), prm.hyper, int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=prm.device)
data = load_dataset(snakemake.input.data, device)
records = prune_experiment(
    exp,
    data,
    "sap",
    "global",
    hyper,
    seed,
    device,
    prm.checkpoint,
    load_torch(snakemake.input.start),
    start_settings(exp, prm.budget, int(hyper["epochs"])),
)
setting = {k: float(hyper[k]) for k in ("p", "q", "eta_r", "gamma")}
columns = {"experiment": exp.name, "method": "sap", "scope": "global", "seed": seed}
write_csv(snakemake.output.table, records_frame(records, **columns, **setting))
write_json(snakemake.output.records, {**columns, "hyper": hyper, "records": records})
Path(prm.checkpoint).unlink(missing_ok=True)
