"""Rule sap_ablation: one SAP run in the global scope at the (p, q, eta_r, gamma) of its output's
name (Diao et al.'s ablations), from the shared dense start; resumable."""

from pathlib import Path

from _common import log_to
from prunelimit.data import load_dataset
from prunelimit.experiment import new_model, settings_for
from prunelimit.io import load_torch, write_csv, write_json
from prunelimit.iterative import records_frame, run_pruning
from prunelimit.runtime import setup
from prunelimit.strategies import PruneSettings

log_to(snakemake.log[0])
prm = snakemake.params
exp, hyper, seed = prm.exp, prm.hyper, int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=prm.device)
data = load_dataset(snakemake.input.data, device)
records = run_pruning(
    "sap",
    "global",
    lambda: new_model(exp, data, seed=seed).to(device),
    data,
    settings_for(exp, "dense"),
    iterations=int(hyper["iterations"]),
    epochs=int(hyper["epochs"]),
    hyper=PruneSettings.from_dict(hyper),
    seed=seed,
    checkpoint=prm.checkpoint,
    log=lambda s: print(s, flush=True),
    identity={k: exp.get(k) for k in ("name", "dataset", "model", "model_args")},
    start=load_torch(snakemake.input.start),
)
setting = {k: float(hyper[k]) for k in ("p", "q", "eta_r", "gamma")}
columns = {"experiment": exp["name"], "method": "sap", "scope": "global", "seed": seed}
write_csv(snakemake.output.table, records_frame(records, **columns, **setting))
write_json(snakemake.output.records, {**columns, "hyper": hyper, "records": records})
Path(prm.checkpoint).unlink(missing_ok=True)
