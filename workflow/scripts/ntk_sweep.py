"""Rule ntk_sweep: empirical NTK of randomly pruned MLPs (two-input sweep, real-input Gram)."""

import time

from _common import log_to
from prunelimit.data import load_dataset
from prunelimit.io import write_csv, write_json
from prunelimit.ntk.sweep import gram_distances, ntk_sweep, real_input_scale
from prunelimit.runtime import setup
from prunelimit.tables.ntk import sweep_summary

log_to(snakemake.log[0])
prm = snakemake.params
out = snakemake.output
seed = int(prm.seed)
device = setup(seed, threads=snakemake.threads, device=prm.device)
print(f"device {device}, threads {snakemake.threads}")

t0 = time.perf_counter()
sweep = ntk_sweep(
    prm.widths,
    prm.p,
    int(prm.draws),
    depth=int(prm.depth),
    input_dim=int(prm.input_dim),
    inner=float(prm.inner_product),
    seed=seed,
    device=device,
    progress=print,
)
t_sweep = time.perf_counter() - t0

x, _ = load_dataset(snakemake.input.data).test.get(slice(0, int(prm.real_batch)))
x = x.flatten(1)
scale = real_input_scale(x)
t0 = time.perf_counter()
gram = gram_distances(
    x,
    prm.real_widths,
    prm.p,
    int(prm.draws),
    depth=int(prm.depth),
    seed=seed,
    input_scale=scale,
    device=device,
    progress=print,
)
t_gram = time.perf_counter() - t0

write_csv(out.sweep, sweep)
write_csv(out.gram, gram)
summary = sweep_summary(sweep, gram, float(prm.tolerance))
summary["gram_inputs"] = {
    "dataset": prm.dataset,
    "n": len(x),
    "features": x.shape[1],
    "input_scale": scale,
}
summary["runtime_s"] = {"sweep": t_sweep, "gram": t_gram, "device": str(device)}
write_json(out.summary, summary)
print(f"done: sweep {t_sweep:.1f} s, gram {t_gram:.1f} s")
