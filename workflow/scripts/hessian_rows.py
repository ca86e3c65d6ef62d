"""Rule hessian_rows: the Hessian rows of the l1 network's weights at the magnitude thresholds."""

from _common import log_to, run_of
from prunelimit.config.settings import ExperimentSettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import load_trained
from prunelimit.io import write_json
from prunelimit.limit.prediction import hessian_rows_of
from prunelimit.runtime import setup
from prunelimit.training.imported import provenance

log_to(snakemake.log[0])
exp, seed = ExperimentSettings.from_dict(snakemake.params.exp), int(snakemake.wildcards.seed)
rows = snakemake.params.rows
device = setup(rows["sample_seed"], threads=snakemake.threads, device=snakemake.params.device)
data = load_dataset(snakemake.input.data, device)
model = load_trained(exp, data, snakemake.input.model, device)
with run_of(exp.name, seed):
    result = hessian_rows_of(model, data, **rows)
print(f"{len(result['row_l1'])} rows, {result['n_hvp']} products, {result['wall_time_s']:.1f} s")
result.update(experiment=exp.name, seed=seed, kind="l1", **provenance(exp))
write_json(snakemake.output[0], result)
