# Shared definitions: config validation, experiments, seeds, paths.

from prunelimit.config import check_config, gpus_per_job, hessian_settings, load_schema

check_config(config, load_schema(workflow.source_path("../schemas/config.schema.yaml")))


validate(config, "../schemas/config.schema.yaml")


EXPERIMENTS = {exp["name"]: exp for exp in config["experiments"]}
SEEDS = [int(s) for s in config["seeds"]]
DEVICE = config["device"]
THREADS = config.get("threads_per_job", 1)
GPUS = gpus_per_job(DEVICE)  # the `gpu` resource of GPU rules (see config/README.md)


wildcard_constraints:
    experiment="|".join(EXPERIMENTS),
    seed=r"\d+",
    kind="dense|l1",


def training_view(experiment, kind="l1"):
    """The experiment without its `hessian` overrides (and, for the dense run, without the l1
    run's `l1_train` block): the params of rules that do not compute a spectrum, so that
    changing those overrides reruns only what depends on them.
    """
    drop = {"hessian"} if kind == "l1" else {"hessian", "l1_train"}
    return {k: v for k, v in EXPERIMENTS[experiment].items() if k not in drop}


def dataset_path(experiment):
    """The prepared dataset file of an experiment."""
    return f"resources/datasets/{EXPERIMENTS[experiment]['dataset']}.pt"


def per_run(pattern, **extra):
    """``pattern`` expanded over every experiment and seed."""
    return expand(pattern, experiment=list(EXPERIMENTS), seed=SEEDS, **extra)
