"""Rules sap and pqi: one pruning run (method, scope, seed), or the PQ Index of the trained
networks of one experiment and seed (dense, l1, l1 pruned one-shot at the actual limit)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import log_to  # noqa: E402
from prunelimit.data import get_spec, load_dataset  # noqa: E402
from prunelimit.experiment import load_trained, new_model  # noqa: E402
from prunelimit.io import read_json, write_csv, write_json  # noqa: E402
from prunelimit.pqi import network_pqi  # noqa: E402
from prunelimit.pruning import (  # noqa: E402
    count_prunable,
    global_magnitude_masks,
    keep_count,
    prunable_weights,
)
from prunelimit.runtime import setup  # noqa: E402
from prunelimit.sap import PruneSettings, records_frame, run_pruning  # noqa: E402
from prunelimit.training import TrainSettings  # noqa: E402

log_to(snakemake.log[0])
exp = snakemake.params.exp
seed = int(snakemake.wildcards.seed)


def run_sap() -> None:
    method, scope = snakemake.wildcards.method, snakemake.wildcards.scope
    hyper = snakemake.params.hyper
    device = setup(seed, threads=snakemake.threads, device=snakemake.params.device)
    data = load_dataset(snakemake.input.data, device)

    def build():
        return new_model(exp, data, seed=seed).to(device)

    settings = PruneSettings.from_dict(hyper)
    records = run_pruning(
        method,
        scope,
        build,
        data,
        TrainSettings.from_dict(exp["train"]),
        iterations=int(hyper["iterations"]),
        epochs=int(hyper["epochs"]),
        hyper=settings,
        seed=seed,
        checkpoint=snakemake.params.checkpoint,
        log=lambda s: print(s, flush=True),
        identity={k: exp.get(k) for k in ("name", "dataset", "model", "model_args")},
    )
    columns = {"experiment": exp["name"], "method": method, "scope": scope, "seed": seed}
    write_csv(snakemake.output.table, records_frame(records, **columns))
    write_json(snakemake.output.records, {**columns, "hyper": hyper, "records": records})
    Path(snakemake.params.checkpoint).unlink(missing_ok=True)


def run_pqi() -> None:
    setup(seed, threads=snakemake.threads, device="cpu")
    spec = get_spec(exp["dataset"])
    pairs = tuple(tuple(float(v) for v in pq) for pq in snakemake.params.pairs)
    nets = {}
    for kind in ("dense", "l1"):
        model = load_trained(exp, spec, getattr(snakemake.input, kind))
        nets[kind] = {k: v.detach() for k, v in prunable_weights(model).items()}
    total = count_prunable(model)
    rho = float(read_json(snakemake.input.limit)["rho_loss"])
    keep = keep_count(rho, total)
    masks = global_magnitude_masks(nets["l1"], keep)
    write_json(
        snakemake.output[0],
        {
            "experiment": exp["name"],
            "seed": seed,
            "rho_loss": rho,
            "kept": keep,
            "D": total,
            "networks": {
                "dense": network_pqi(nets["dense"], None, pairs),
                "l1": network_pqi(nets["l1"], None, pairs),
                "l1_pruned": network_pqi(nets["l1"], masks, pairs),
            },
        },
    )


{"sap": run_sap, "pqi": run_pqi}[snakemake.rule]()
