"""Rule sap: one iterative pruning run (registered strategy, scope, seed), resumable."""

from pathlib import Path

from _common import log_to
from prunelimit.data import load_dataset
from prunelimit.experiment import new_model
from prunelimit.io import write_csv, write_json
from prunelimit.iterative import records_frame, run_pruning
from prunelimit.runtime import setup
from prunelimit.strategies import PruneSettings
from prunelimit.training import TrainSettings

log_to(snakemake.log[0])
exp, hyper = snakemake.params.exp, snakemake.params.hyper
method, scope = snakemake.wildcards.method, snakemake.wildcards.scope
seed = int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=snakemake.params.device)
data = load_dataset(snakemake.input.data, device)
records = run_pruning(
    method,
    scope,
    lambda: new_model(exp, data, seed=seed).to(device),
    data,
    TrainSettings.from_dict(exp["train"]),
    iterations=int(hyper["iterations"]),
    epochs=int(hyper["epochs"]),
    hyper=PruneSettings.from_dict(hyper),
    seed=seed,
    checkpoint=snakemake.params.checkpoint,
    log=lambda s: print(s, flush=True),
    identity={k: exp.get(k) for k in ("name", "dataset", "model", "model_args")},
)
columns = {"experiment": exp["name"], "method": method, "scope": scope, "seed": seed}
write_csv(snakemake.output.table, records_frame(records, **columns))
write_json(snakemake.output.records, {**columns, "hyper": hyper, "records": records})
Path(snakemake.params.checkpoint).unlink(missing_ok=True)
