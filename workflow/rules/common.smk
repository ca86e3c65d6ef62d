# Shared definitions: the config validated once into typed settings, experiments, seeds, paths.

import re

from prunelimit.config.kinds import KINDS, OTHER_KINDS, predicted_kinds, trained_kinds
from prunelimit.config.settings import gpus_per_job
from prunelimit.config.validate import check_files, load_settings
from prunelimit.experiment.checks import check_methods, check_models

# One pass: the schema (types, ranges), the typed settings with their defaults
# (src/prunelimit/config/settings.py), then every rule the schema cannot express
# (src/prunelimit/config/validate.py). Rules pass sections to scripts as plain dicts.
SETTINGS = load_settings(config, workflow.source_path("../schemas/config.schema.yaml"))
# The scripts import their helper `_common.py` from beside them. A module loaded from a URL
# (`github(...)`, as snakedeploy writes it) caches each script apart: cache the helper there too.
workflow.source_path("../scripts/_common.py")


EXPERIMENTS = {exp["name"]: exp for exp in config["experiments"]}
SEEDS = [int(s) for s in SETTINGS.seeds]
# Experiments of weights trained elsewhere (`weights:`) are imported, not trained; one seed
# (the first), since their weights do not depend on it.
IMPORTED = [e for e, exp in EXPERIMENTS.items() if exp.get("weights")]
TRAINED = [e for e in EXPERIMENTS if e not in IMPORTED]
check_files(SETTINGS)
check_methods(SETTINGS)
# Import-path models: built and run on one batch, on the CPU; those that are plain ReLU MLPs.
IMPORTED_MLPS = check_models(SETTINGS)
DEVICE = SETTINGS.device
THREADS = SETTINGS.threads_per_job
GPUS = gpus_per_job(DEVICE)  # the `gpu` resource of GPU rules (see config/README.md)
COMPARE = SETTINGS.compare  # the methods compared, their levels and budget
# The actual-limit search's settings: the grid for every stage's searches (which prune by
# global magnitude), and `limit.method` for the actual_limit rule's only where it is not the
# default, so that results made before the key existed stay finished
LIMIT_GRID = {k: v for k, v in SETTINGS.limit.as_dict().items() if k != "method"}
LIMIT_SEARCH = (
    SETTINGS.limit.as_dict() if SETTINGS.limit.method != "lomp" else LIMIT_GRID
)
# The theory settings that the spectra and the stages' own limits read: `magnitude_factors`
# concerns the theory rule's record only, and changing it reruns nothing else.
THEORY_INPUTS = {
    k: v for k, v in SETTINGS.theory.as_dict().items() if k != "magnitude_factors"
}


wildcard_constraints:
    experiment="|".join(EXPERIMENTS),
    seed=r"\d+",
    kind="|".join(KINDS),


# A run's folder: one experiment, one seed. A rule spells each of its outputs once from it
# (`f"{RUN}/theory.json"`); a rule downstream with the same wildcards names that output
# (`rules.theory.output[0]`); one that reads a given kind's network spells it (`f"{RUN}/l1.pt"`).
RUN = "results/{experiment}/seed{seed}"


def run_dir(experiment, seed):
    """The folder of one run (RUN with its experiment and seed filled in)."""
    return RUN.format(experiment=experiment, seed=seed)


def training_view(experiment, kind="l1"):
    """The experiment without its `hessian` overrides and without the override blocks of the
    other kinds (`l1_train` of the l1 run, `l2_train` of the l2 run): the params of a kind's
    rules that do not compute a spectrum, so that changing those reruns only what depends on
    them.
    """
    drop = {"hessian"} | ({"l1_train", "l2_train"} - {f"{kind}_train"})
    return {k: v for k, v in EXPERIMENTS[experiment].items() if k not in drop}


def start_view(experiment):
    """The params of the rules whose networks train with the pruning methods' budget
    (`compare.budget`: `matched` trains as the l1 run, so its block is kept)."""
    return training_view(experiment, "l1" if COMPARE.budget == "matched" else "dense")


def limit_view(experiment):
    """The experiment without its `hessian` overrides, every kind's block kept: the params of
    the actual-limit search, which prunes every kind's network with its training settings.
    """
    return {k: v for k, v in EXPERIMENTS[experiment].items() if k != "hessian"}


def dataset_path(experiment):
    """The prepared dataset file of an experiment."""
    return f"resources/datasets/{EXPERIMENTS[experiment]['dataset']}.pt"


def one_of(names):
    """A wildcard regex matching exactly ``names`` (and nothing when there are none)."""
    return "|".join(map(re.escape, names)) if names else "(?!x)x"


def seeds_of(experiment):
    """The seeds an experiment runs for: all, or the first for imported weights."""
    return SEEDS[:1] if experiment in IMPORTED else SEEDS


# The seeds whose l2 runs are trained, with the dense and l2 networks' limits (`regularisation`).
REGULARISATION_SEEDS = [int(s) for s in SETTINGS.regularisation.seeds or SEEDS]


def kinds_of(experiment, seed=None):
    """`dense`, `l1` (and `l2` with an `l2_train` block, at the `regularisation` seeds or,
    without ``seed``, at any) for a trained experiment; for imported weights, what was given.
    """
    exp = EXPERIMENTS[experiment]
    if experiment in IMPORTED:
        return ["l1"] + (["dense"] if exp.get("dense_weights") else [])
    if seed is not None and int(seed) not in REGULARISATION_SEEDS:
        return [k for k in trained_kinds(SETTINGS.experiment(experiment)) if k != "l2"]
    return trained_kinds(SETTINGS.experiment(experiment))


def other_kinds(experiment, seed):
    """The kinds beside `l1` whose limit is predicted and searched (`dense` and `l2`, for an
    experiment with an `l2_train` block, at the `regularisation` seeds): their spectrum and
    theory files are `{kind}_*.json`.
    """
    if experiment in IMPORTED or int(seed) not in REGULARISATION_SEEDS:
        return []
    return [k for k in predicted_kinds(SETTINGS.experiment(experiment)) if k != "l1"]


def theory_path(experiment, seed, kind="l1"):
    """The theory of a kind's network: `theory.json` for l1, `{kind}_theory.json` else."""
    name = "theory.json" if kind == "l1" else f"{kind}_theory.json"
    return f"{run_dir(experiment, seed)}/{name}"


def kind_theories(experiments=None):
    """The theories of the other kinds (`other_kinds`) of every run of ``experiments``."""
    return [
        theory_path(e, s, k)
        for e in (list(EXPERIMENTS) if experiments is None else experiments)
        for s in seeds_of(e)
        for k in other_kinds(e, s)
    ]


def per_run(pattern, experiments=None, **extra):
    """``pattern`` expanded over every experiment (or ``experiments``) and its seeds."""
    return [
        path
        for e in (list(EXPERIMENTS) if experiments is None else experiments)
        for path in expand(pattern, experiment=e, seed=seeds_of(e), **extra)
    ]


def limit_inputs(w):
    """The l1 network and its theory; the dense (and l2) network when the experiment has one,
    with its theory when it has one (`other_kinds`: its curve uses the theory's eps)."""
    run = run_dir(w.experiment, w.seed)
    inputs = {
        "data": dataset_path(w.experiment),
        "l1": f"{run}/l1.pt",
        "theory": theory_path(w.experiment, w.seed),
    }
    for kind in kinds_of(w.experiment, w.seed):
        if kind != "l1":
            inputs[kind] = f"{run}/{kind}.pt"
    for kind in other_kinds(w.experiment, w.seed):
        inputs[f"{kind}_theory"] = theory_path(w.experiment, w.seed, kind)
    return inputs


def sap_hyper(method):
    """The sap config keys a run of ``method`` depends on (so only their changes rerun it):
    the driver's and those its registered strategy declares (the built-in ones without
    importing torch while planning)."""
    from prunelimit.sap.keys import STRATEGY_KEYS

    if method in STRATEGY_KEYS:
        own = STRATEGY_KEYS[method]
    else:  # a strategy registered elsewhere: its class says
        from prunelimit.sap.strategies import get_strategy

        own = get_strategy(method).hyper_keys
    keys = ["iterations", "epochs", "p", "q", *own]
    return {k: getattr(SETTINGS.sap, k) for k in keys}


def watch_settings(experiment, kind):
    """What the l1 run of a spline experiment records for the early-bird stage (only the keys
    that shape the recording; the spline's hessian and report thresholds rerun no training).
    """
    spline = SETTINGS.spline
    if kind != "l1" or experiment not in spline.experiments:
        return None
    eb = spline.early_bird
    return {
        "grid": eb.grid,
        "margin": eb.margin,
        "threshold": eb.threshold,
        "window": eb.window,
    }


# Scheduling: the l1 trainings head the longest chains (spectrum, theory, actual limit), so they
# start first; then that chain; then the other trainings (dense, SAP/LT/OS: the longest of the
# remaining jobs), so that the short analyses, tables and figures fill the cores at the end.
# The order changes no result.
PRIORITY = {"l1": 3, "prediction": 2, "dense": 1, "l2": 1, "sap": 1}


def node_titles(methods):
    """Node-pruning method -> its label in the table and figure (spline_pruning.smk)."""
    from prunelimit.methods.nodes import get_node_method

    return {m: get_node_method(m).title for m in methods}
