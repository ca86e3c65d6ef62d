"""Rule spline_eb: the l1 training watched for an early-bird ticket, and the limits at the
early-bird epoch and at the end."""

from _common import log_to
from prunelimit.data import load_dataset
from prunelimit.experiment.spline import early_bird_experiment
from prunelimit.io import write_csv, write_json
from prunelimit.runtime import setup
from prunelimit.settings import EarlyBirdSettings, HessianSettings, LimitSettings, TheorySettings

log_to(snakemake.log[0])
prm = snakemake.params
seed = int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=prm.device)
record, distances, limits = early_bird_experiment(
    prm.exp,
    load_dataset(snakemake.input.data, device),
    seed,
    device,
    EarlyBirdSettings.from_dict(prm.spline),
    HessianSettings.from_dict(prm.hessian),
    TheorySettings.from_dict(prm.theory),
    LimitSettings.from_dict(prm.limit),
)
write_csv(snakemake.output.distances, distances, index=True, index_label="epoch")
write_json(snakemake.output.eb, record)
write_json(snakemake.output.limit, limits)
