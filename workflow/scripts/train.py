"""Rule train: dense or l1-regularised training of one experiment and seed."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import log_to  # noqa: E402
from prunelimit.data import load_dataset  # noqa: E402
from prunelimit.experiment import train_experiment  # noqa: E402
from prunelimit.runtime import setup  # noqa: E402

log_to(snakemake.log[0])
seed = int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=snakemake.params.device)
train_experiment(
    snakemake.params.exp,
    snakemake.wildcards.kind,
    seed,
    load_dataset(snakemake.input.data, device),
    device,
    snakemake.output.model,
    snakemake.output.metrics,
    checkpoint=snakemake.params.checkpoint,
)
