"""What one SAP/LT/OS job costs against the SGD steps it must do.

Run as ``python -m prunelimit.bench.sap [--config config/config.yaml] [--experiment mlp]
[--method sap] [--scope neuron] [--iterations T]``. With one thread it times, back to back:

- **startup**: a fresh interpreter importing what the ``sap`` script imports, and loading the
  dataset;
- **run**: :func:`prunelimit.iterative.run_pruning` as the job calls it (training, pruning,
  evaluations, PQI, per-epoch checkpoints);
- **SGD steps**: the masked SGD steps of the same run alone (``T + 1`` trainings of ``E``
  epochs: forward, cross-entropy, backward, gradient mask, step, mask), nothing else.

It prints the job estimate (startup + run) as a ratio to the SGD steps, and the machine's
one-thread SGEMM rate beside the absolute times.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
import yaml

from prunelimit.bench import sgemm_gflops


def sgd_steps_seconds(build, data, settings, iterations: int, seed: int) -> float:
    """Wall time of the run's masked SGD steps alone (all-True masks: the same operations)."""
    from prunelimit.pruning import apply_masks, prunable_weights
    from prunelimit.runtime import generator

    t0 = time.perf_counter()
    for t in range(iterations + 1):
        model = build()
        masks = {
            n: torch.ones_like(p, dtype=torch.bool) for n, p in prunable_weights(model).items()
        }
        params = dict(model.named_parameters())
        opt = torch.optim.SGD(
            model.parameters(),
            lr=settings.lr,
            momentum=settings.momentum,
            weight_decay=settings.weight_decay,
        )
        gen = generator(seed * 100_003 + t)
        model.train()
        for _ in range(settings.epochs):
            for x, y in data.train.batches(settings.batch_size, gen, augment=settings.augment):
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                for name, m in masks.items():
                    params[name].grad.mul_(m)
                opt.step()
                apply_masks(model, masks)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--experiment", default=None, help="default: the first of sap.experiments")
    ap.add_argument("--method", default="sap")
    ap.add_argument("--scope", default="neuron")
    ap.add_argument("--iterations", type=int, default=None, help="default: sap.iterations")
    ap.add_argument("--dataset-file", default=None, help="default: resources/datasets/<name>.pt")
    args = ap.parse_args(argv)

    from prunelimit.data import load_dataset
    from prunelimit.experiment import new_model
    from prunelimit.iterative import iteration_settings, run_pruning
    from prunelimit.runtime import setup
    from prunelimit.strategies import PruneSettings
    from prunelimit.training import TrainSettings

    cfg = yaml.safe_load(open(args.config))
    sap = cfg["sap"]
    name = args.experiment or sap["experiments"][0]
    exp = next(e for e in cfg["experiments"] if e["name"] == name)
    iterations = args.iterations if args.iterations is not None else int(sap["iterations"])
    path = args.dataset_file or f"resources/datasets/{exp['dataset']}.pt"
    setup(0, threads=1, device="cpu")

    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import prunelimit.iterative, prunelimit.experiment, pandas"],
        check=True,
    )
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = load_dataset(path)
    t_data = time.perf_counter() - t0

    def build():
        return new_model(exp, data, seed=0)

    train = TrainSettings.from_dict(exp["train"])
    t0 = time.perf_counter()
    run_pruning(
        args.method,
        args.scope,
        build,
        data,
        train,
        iterations,
        int(sap["epochs"]),
        PruneSettings.from_dict(sap),
        seed=0,
        log=lambda _msg: None,
    )
    t_run = time.perf_counter() - t0
    t_sgd = sgd_steps_seconds(
        build, data, iteration_settings(train, int(sap["epochs"])), iterations, seed=0
    )
    job = t_import + t_data + t_run
    print(f"{args.method}/{args.scope} on {name}: T = {iterations}, E = {sap['epochs']}")
    print(f"  startup (imports {t_import:.2f} s, data {t_data:.2f} s)")
    print(f"  run_pruning {t_run:.2f} s; SGD steps alone {t_sgd:.2f} s")
    print(f"  job estimate {job:.2f} s = {job / t_sgd:.2f} x the SGD steps")
    print(f"  (one-thread SGEMM {sgemm_gflops():.0f} GFLOP/s)")


if __name__ == "__main__":
    main()
