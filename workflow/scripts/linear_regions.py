"""Rule linear_regions: region-bound layer densities against uniform and global allocations,
with each pruned network's linear regions on the input plane (exact, and on the grid)."""

from _common import log_to
from prunelimit.config.kinds import train_settings
from prunelimit.config.settings import ExperimentSettings, RegionSettings
from prunelimit.data import load_dataset
from prunelimit.experiment.runs import load_trained
from prunelimit.io import write_csv
from prunelimit.regions.stage import regions_experiment
from prunelimit.runtime import setup

log_to(snakemake.log[0])
exp, seed = ExperimentSettings.from_dict(snakemake.params.exp), int(snakemake.wildcards.seed)
device = setup(seed, threads=snakemake.threads, device=snakemake.params.device)
data = load_dataset(snakemake.input.data, device)
model = load_trained(exp, data, snakemake.input.model, device)
prm = snakemake.params
df = regions_experiment(
    exp.name,
    train_settings(exp, "dense"),
    model,
    data,
    RegionSettings.from_dict(prm.spline),
    seed,
    int(prm.grid),
    float(prm.margin),
)
write_csv(snakemake.output[0], df)
print(df.drop(columns=["dims"]).to_string())
