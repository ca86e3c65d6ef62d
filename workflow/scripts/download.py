"""Rule download: prepare one dataset (download, verify, extract, split)."""

from _common import log_to
from prunelimit.config.settings import DatasetSettings
from prunelimit.data import prepare_dataset

log_to(snakemake.log[0])
meta = prepare_dataset(
    snakemake.wildcards.dataset,
    snakemake.params.raw,
    snakemake.output[0],
    val_fraction=snakemake.params.val_fraction,
    split_seed=snakemake.params.split_seed,
    source=own
    if (own := snakemake.params.source) is None
    else DatasetSettings.from_dict(own).as_dict(),
)
print(meta)
