"""Rule sap_lomp: LOMP (the l1 network, one-shot magnitude pruned, no retraining) at the SAP
stage's remaining-weight levels, from the actual-limit curve (a few evaluations where the curve
has no point close enough), as a record table beside SAP/LT/OS."""

import pandas as pd

from _common import log_to
from prunelimit.config.settings import ExperimentSettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import load_trained
from prunelimit.io import read_json, write_csv, write_json
from prunelimit.limit.lomp import lomp_levels, lomp_records
from prunelimit.runtime import setup

log_to(snakemake.log[0])
prm = snakemake.params
exp, seed = ExperimentSettings.from_dict(prm.exp), int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device="cpu")
data = load_dataset(snakemake.input.data, device)
model = load_trained(exp, data, snakemake.input.l1, device)
curve = read_json(snakemake.input.limit)["l1"]["curve"]
levels = lomp_levels(list(prm.levels), float(prm.lt_rate), int(prm.iterations))
records = lomp_records(model, data, curve, levels, log=lambda s: print(s, flush=True))
columns = {"experiment": exp.name, "method": "lomp", "scope": "global", "seed": seed}
write_csv(snakemake.output.table, pd.DataFrame([{**columns, **r} for r in records]))
write_json(snakemake.output.records, {**columns, "levels": levels, "records": records})
