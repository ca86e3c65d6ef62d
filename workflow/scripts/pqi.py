"""Rule pqi: PQ Index of the dense, l1 and l1-pruned (at the actual limit) networks."""

from _common import log_to
from prunelimit.config.settings import ExperimentSettings
from prunelimit.data import prepared_spec
from prunelimit.experiment.runs import load_trained
from prunelimit.io import read_json, write_json
from prunelimit.runtime import setup
from prunelimit.sap.pqi import trained_pqi

log_to(snakemake.log[0])
exp, seed = ExperimentSettings.from_dict(snakemake.params.exp), int(snakemake.wildcards.seed)
setup(seed, threads=snakemake.threads, device="cpu")
spec = prepared_spec(snakemake.input.data)  # shapes only: the meta beside the file
pqi = trained_pqi(
    load_trained(exp, spec, snakemake.input.dense),
    load_trained(exp, spec, snakemake.input.l1),
    float(read_json(snakemake.input.limit)["rho_loss"]),
    tuple(tuple(float(v) for v in pq) for pq in snakemake.params.pairs),
)
write_json(snakemake.output[0], {"experiment": exp.name, "seed": seed, **pqi})
