"""Rule spline_partition: the input-plane partition and decision boundary of the l1 network,
exact and on the grid, unpruned, one-shot pruned to kept ratios around its limit and by nodes
(nothing is retrained)."""

from _common import log_to, run_of
from prunelimit.config.settings import ExperimentSettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import load_trained
from prunelimit.io import read_json, write_json, write_npz
from prunelimit.runtime import setup
from prunelimit.spline.partition import partition_at_limit

log_to(snakemake.log[0])
prm = snakemake.params
exp, seed = ExperimentSettings.from_dict(prm.exp), int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=prm.device)
data = load_dataset(snakemake.input.data, device)
with run_of(exp.name, seed):
    record, arrays = partition_at_limit(
        exp.name,
        data,
        load_trained(exp, data, snakemake.input.model, device),
        read_json(snakemake.input.theory)["rho_th"],
        read_json(snakemake.input.limit)["rho_loss"],
        int(prm.grid),
        float(prm.margin),
        seed,
    )
write_npz(snakemake.output.arrays, arrays)
write_json(snakemake.output.record, record)
