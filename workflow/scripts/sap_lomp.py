"""Rule sap_lomp: LOMP (the l1 network, one-shot magnitude pruned, no retraining) at the SAP
stage's remaining-weight levels, from the actual-limit curve (a few evaluations where the curve
has no point close enough), as a record table beside SAP/LT/OS."""

import pandas as pd

from _common import log_to
from prunelimit.config.kinds import train_settings
from prunelimit.config.settings import ExperimentSettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import load_trained
from prunelimit.io import read_json, write_csv, write_json
from prunelimit.limit.lomp import lomp_levels, lomp_records
from prunelimit.methods.budget import budget_columns
from prunelimit.runtime import setup
from prunelimit.tables.limits import exclusion

log_to(snakemake.log[0])
prm = snakemake.params
exp, seed = ExperimentSettings.from_dict(prm.exp), int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device="cpu")
data = load_dataset(snakemake.input.data, device)
model = load_trained(exp, data, snakemake.input.l1, device)
limit, metrics = read_json(snakemake.input.limit), read_json(snakemake.input.metrics)
curve = limit["l1"]["curve"]
levels = lomp_levels(list(prm.levels), float(prm.lt_rate), int(prm.iterations))
records = lomp_records(model, data, curve, levels, log=lambda s: print(s, flush=True))
columns = {"experiment": exp.name, "method": "lomp", "scope": "global", "seed": seed}
s = train_settings(exp, "l1")
columns.update(budget_columns("l1 network, no retraining", s.epochs, s.epochs, s))
columns.update(start_acc=metrics["final"]["test_acc"], **exclusion(metrics, limit))
if columns["excluded"]:
    print(f"WARNING: {exp.name} seed {seed}: {columns['excluded_why']}; LOMP left out of the means")
write_csv(snakemake.output.table, pd.DataFrame([{**columns, **r} for r in records]))
write_json(snakemake.output.records, {**columns, "levels": levels, "records": records})
