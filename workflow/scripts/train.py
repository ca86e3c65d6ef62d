"""Rule train: dense or l1-regularised training of one experiment and seed (the l1 run of a
spline experiment watched for early-bird tickets on the way)."""

from _common import log_to
from prunelimit.config.settings import ExperimentSettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import train_experiment
from prunelimit.runtime import setup

log_to(snakemake.log[0])
seed = int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=snakemake.params.device)
train_experiment(
    ExperimentSettings.from_dict(snakemake.params.exp),
    snakemake.wildcards.kind,
    seed,
    load_dataset(snakemake.input.data, device),
    device,
    snakemake.output.model,
    snakemake.output.metrics,
    checkpoint=snakemake.params.checkpoint,
    watch=snakemake.params.watch,
    watch_out=snakemake.output.watch,
)
