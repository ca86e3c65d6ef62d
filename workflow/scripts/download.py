"""Rule download: prepare one dataset (download, verify, extract, split)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import log_to  # noqa: E402
from prunelimit.data import prepare_dataset  # noqa: E402

log_to(snakemake.log[0])
meta = prepare_dataset(
    snakemake.wildcards.dataset,
    snakemake.params.raw,
    snakemake.output[0],
    val_fraction=snakemake.params.val_fraction,
    split_seed=snakemake.params.split_seed,
)
print(meta)
