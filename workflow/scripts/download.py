"""Rule download: prepare one dataset (download, verify, extract, split)."""

from _common import log_to
from prunelimit.data import prepare_dataset

log_to(snakemake.log[0])
meta = prepare_dataset(
    snakemake.wildcards.dataset,
    snakemake.params.raw,
    snakemake.output[0],
    val_fraction=snakemake.params.val_fraction,
    split_seed=snakemake.params.split_seed,
    source=snakemake.params.source,
)
print(meta)
