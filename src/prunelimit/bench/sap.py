"""What the SAP/LT/OS jobs cost against the SGD steps they must do.

Run as ``python -m prunelimit.bench.sap [--config config/config.yaml] [--experiment mlp]
[--method sap] [--iterations T]``. With one thread it times, back to back, the two jobs of the
stage (rules ``sap_dense`` and ``sap``) as their scripts run them:

- **startup**: a fresh interpreter importing what the scripts import, and loading the dataset;
- **dense start**: :func:`prunelimit.sap.iterative.dense_start` (iteration 0, once per seed);
- **method job**: :func:`prunelimit.sap.iterative.run_pruning` in every configured scope from that
  start (training, pruning, evaluations, PQI; without the job's checkpoint files);
- **SGD steps**: the masked SGD steps of each job alone (``E`` epochs per training: forward,
  cross-entropy, backward, gradient mask, step, mask), nothing else.

It prints each job estimate (startup + work) as a ratio to its SGD steps, and the machine's
one-thread SGEMM rate beside the absolute times.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import yaml

from prunelimit.bench import sgemm_gflops


def sgd_steps_seconds(build, data, settings, trainings: int, seed: int) -> float:
    """Wall time of ``trainings`` masked trainings' SGD steps alone (all-True masks: the same
    operations as any mask), each :func:`prunelimit.training.loop.sgd_step` as in training."""
    from prunelimit.pruning import full_masks, prunable_weights
    from prunelimit.runtime import generator
    from prunelimit.training.loop import sgd_step
    from prunelimit.training.optimizer import sgd

    t0 = time.perf_counter()
    for t in range(trainings):
        model = build()
        masks = full_masks(prunable_weights(model))
        params = dict(model.named_parameters())
        opt = sgd(model, settings)
        gen = generator(seed * 100_003 + t)
        model.train()
        for _ in range(settings.epochs):
            for x, y in data.train.batches(settings.batch_size, gen, augment=settings.augment):
                sgd_step(model, opt, x, y, settings.l1, masks, params)
    return time.perf_counter() - t0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring); ``argv`` None: ``sys.argv``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--experiment", default=None, help="default: the first of sap.experiments")
    ap.add_argument("--method", default="sap")
    ap.add_argument("--iterations", type=int, default=None, help="default: sap.iterations")
    ap.add_argument("--dataset-file", default=None, help="default: resources/datasets/<name>.pt")
    return ap.parse_args(argv)


def _startup_seconds(path: str):
    """Seconds of a fresh interpreter importing what the scripts import, and of loading the
    dataset at ``path``; and that dataset."""
    from prunelimit.data import load_dataset

    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import prunelimit.sap.iterative, prunelimit.experiment, pandas"],
        check=True,
    )
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = load_dataset(path)
    t_data = time.perf_counter() - t0
    return t_import, t_data, data


def _work_seconds(method, scopes, build, data, train, iterations, epochs, sap: dict):
    """Seconds of the dense start (seed 0) and of ``method``'s pruning in every scope from it
    (the work of the ``sap_dense`` and ``sap`` jobs, logs dropped)."""
    from prunelimit.config.kinds import rescaled
    from prunelimit.sap.iterative import dense_start, run_pruning
    from prunelimit.sap.strategies import PruneSettings

    train = rescaled(train, epochs)  # Diao et al.: iteration 0 trains as every iteration
    t0 = time.perf_counter()
    start = dense_start(build, data, train, seed=0, log=lambda _msg: None)
    t_dense = time.perf_counter() - t0
    t0 = time.perf_counter()
    for scope in scopes:
        run_pruning(
            method,
            scope,
            build,
            data,
            train,
            iterations,
            epochs,
            PruneSettings.from_dict(sap),
            seed=0,
            log=lambda _msg: None,
            start=start,
        )
    return t_dense, time.perf_counter() - t0


def _report(headline: str, t_import: float, t_data: float, jobs: list) -> None:
    """Print the start-up and, per job (label, work seconds, SGD-steps seconds), its estimate
    as a ratio to its SGD steps; then the one-thread SGEMM rate."""
    startup = t_import + t_data
    print(headline)
    print(f"  startup {startup:.2f} s (imports {t_import:.2f} s, data {t_data:.2f} s)")
    for label, work, sgd in jobs:
        job = startup + work
        print(
            f"  {label}: work {work:.2f} s, SGD steps alone {sgd:.2f} s; "
            f"job {job:.2f} s = {job / sgd:.2f} x the SGD steps"
        )
    print(f"  (one-thread SGEMM {sgemm_gflops():.0f} GFLOP/s)")


def main(argv: list[str] | None = None) -> None:
    """Time the jobs of the SAP stage for the command line ``argv`` and print the ratios."""
    args = _arguments(argv)
    from prunelimit.config.kinds import rescaled, train_settings
    from prunelimit.config.settings import ExperimentSettings
    from prunelimit.experiment.runs import new_model
    from prunelimit.runtime import setup

    cfg = yaml.safe_load(open(args.config))
    sap = cfg["sap"]
    name = args.experiment or sap["experiments"][0]
    exp = ExperimentSettings.from_dict(next(e for e in cfg["experiments"] if e["name"] == name))
    iterations = args.iterations if args.iterations is not None else int(sap["iterations"])
    path = args.dataset_file or f"resources/datasets/{exp.dataset}.pt"
    setup(0, threads=1, device="cpu")
    t_import, t_data, data = _startup_seconds(path)

    def build():
        return new_model(exp, data, seed=0)

    train = train_settings(exp, "dense")
    epochs, scopes = int(sap["epochs"]), list(sap["scopes"])
    settings = rescaled(train, epochs)
    t_dense, t_method = _work_seconds(
        args.method, scopes, build, data, train, iterations, epochs, sap
    )
    sgd_dense = sgd_steps_seconds(build, data, settings, 1, seed=0)
    sgd_method = sgd_steps_seconds(build, data, settings, iterations * len(scopes), seed=0)
    jobs = [
        ("sap_dense job", t_dense, sgd_dense),
        (f"sap job ({args.method})", t_method, sgd_method),
    ]
    headline = f"{name}: T = {iterations}, E = {epochs}, scopes {scopes}, method {args.method}"
    _report(headline, t_import, t_data, jobs)


if __name__ == "__main__":
    main()
