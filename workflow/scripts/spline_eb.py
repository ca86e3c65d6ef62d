"""Rule spline_eb: the early-bird record of the watched l1 run, its partition trajectory, and
the limits at the early-bird epoch and at the end (nothing is retrained)."""

from _common import log_to, run_of
from prunelimit.config.kinds import train_settings
from prunelimit.config.settings import (
    EarlyBirdSettings,
    ExperimentSettings,
    HessianSettings,
    LimitSettings,
    TheorySettings,
)
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import load_run_file, load_trained
from prunelimit.io import write_csv, write_json, write_npz
from prunelimit.runtime import setup
from prunelimit.spline.stage import early_bird_limits
from prunelimit.spline.trajectory import trajectory_arrays

log_to(snakemake.log[0])
prm = snakemake.params
exp, seed = ExperimentSettings.from_dict(prm.exp), int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=prm.device)
data = load_dataset(snakemake.input.data, device)
observed = load_run_file(snakemake.input.watch)
with run_of(exp.name, seed):
    record, distances, limits = early_bird_limits(
        exp.name,
        train_settings(exp, "l1"),
        data,
        load_trained(exp, data, snakemake.input.model, device),
        observed,
        EarlyBirdSettings.from_dict(prm.spline),
        HessianSettings.from_dict(prm.hessian),
        TheorySettings.from_dict(prm.theory),
        LimitSettings.from_dict(prm.limit),
        seed,
    )
write_csv(snakemake.output.distances, distances, index=True, index_label="epoch")
write_json(snakemake.output.eb, record)
write_json(snakemake.output.limit, limits)
write_npz(snakemake.output.trajectory, trajectory_arrays(observed, int(record["grid"])))
