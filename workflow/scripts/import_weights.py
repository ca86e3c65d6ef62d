"""Rule import_weights: check a state dict trained elsewhere and put it where training would."""

from _common import log_to
from prunelimit.config.settings import ExperimentSettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import import_experiment

log_to(snakemake.log[0])
import_experiment(
    ExperimentSettings.from_dict(snakemake.params.exp),
    snakemake.wildcards.kind,
    int(snakemake.wildcards.seed),
    load_dataset(snakemake.input.data),
    snakemake.input.weights,
    snakemake.output.model,
    snakemake.output.metrics,
)
