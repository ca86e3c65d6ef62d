"""The rules a config must keep that its schema cannot express, one function each.

Each rule takes the whole config (already valid against the schema) and returns its problems as
messages that name the key. :func:`check_config` runs the schema and then every rule of
:data:`RULES`; :func:`check_files` checks that the files a config names exist, before any job
runs. No torch here: the workflow runs these when it parses the config.
"""

from __future__ import annotations

from pathlib import Path

from prunelimit.config.kinds import OVERRIDE_BLOCKS
from prunelimit.config.schema import load_schema, raise_problems, schema_problems
from prunelimit.config.settings import Settings
from prunelimit.data.registry import DATASETS as REGISTRY_DATASETS


def unique_names(config: dict) -> list[str]:
    names = [e["name"] for e in config["experiments"]]
    return [
        f"config key experiments: the name {name!r} is used more than once"
        for name in sorted({n for n in names if names.count(n) > 1})
    ]


def own_dataset_names(config: dict) -> list[str]:
    own = config.get("datasets") or {}
    return [
        f"config key datasets.{name}: the name of a known dataset; rename it"
        for name in sorted(set(own) & set(REGISTRY_DATASETS))
    ]


def model_arguments(config: dict) -> list[str]:
    problems = []
    for i, exp in enumerate(config["experiments"]):
        registry = ":" not in exp["model"]
        if registry and exp["model"] != "mlp" and exp.get("model_args"):
            problems.append(
                f"config key experiments[{i}].model_args: of the registry's models only 'mlp' "
                f"takes arguments, not {exp['model']!r} (an import path takes any)"
            )
        if exp["model"] == "mlp" and set(exp.get("model_args", {})) - {"widths"}:
            problems.append(f"config key experiments[{i}].model_args: 'mlp' takes only widths")
    return problems


def known_datasets(config: dict) -> list[str]:
    own = config.get("datasets") or {}
    known = ", ".join([*REGISTRY_DATASETS, *own])
    return [
        f"config key experiments[{i}].dataset: {exp['dataset']!r} is neither a known dataset "
        f"nor one of the config's `datasets`; known: {known}"
        for i, exp in enumerate(config["experiments"])
        if exp["dataset"] not in REGISTRY_DATASETS and exp["dataset"] not in own
    ]


def auto_steps_engine(config: dict) -> list[str]:
    problems = []
    for i, exp in enumerate(config["experiments"]):
        h = {**config["hessian"], **exp.get("hessian", {})}
        if h.get("lanczos_steps") == "auto" and h.get("engine", "builtin") != "builtin":
            problems.append(
                f"config key experiments[{i}] ({exp['name']}): hessian.lanczos_steps auto "
                "needs hessian.engine builtin (pyhessian does not expose its Lanczos "
                "coefficients)"
            )
    return problems


def trained_or_imported(config: dict) -> list[str]:
    problems = []
    for i, exp in enumerate(config["experiments"]):
        if not exp.get("train") and not exp.get("weights"):
            problems.append(
                f"config key experiments[{i}] ({exp['name']}): give `train` (to train it here) "
                "or `weights` (a state dict trained elsewhere)"
            )
        if exp.get("dense_weights") and not exp.get("weights"):
            problems.append(
                f"config key experiments[{i}].dense_weights: only with `weights` (the dense "
                "network of a trained experiment is trained here)"
            )
        for block in OVERRIDE_BLOCKS.values():
            if exp.get(block) and not exp.get("train"):
                problems.append(f"config key experiments[{i}].{block}: needs a `train` block")
    return problems


def schedules(config: dict) -> list[str]:
    """Every run trained here: warm-up shorter than the run, milestones for ``multistep``."""
    problems = []
    for i, exp in enumerate(config["experiments"]):
        if not exp.get("train"):
            continue
        blocks = [("train", exp["train"])] + [
            (b, {**exp["train"], **exp[b]}) for b in OVERRIDE_BLOCKS.values() if exp.get(b)
        ]
        for block, t in blocks:
            key = f"experiments[{i}].{block}"
            warmup, epochs = t.get("warmup_epochs", 0), t["epochs"]
            if 0 < warmup >= epochs:
                problems.append(
                    f"config key {key}.warmup_epochs ({warmup}) must be smaller than "
                    f"{key}.epochs ({epochs})"
                )
            if t.get("schedule") == "multistep" and not t.get("milestones"):
                problems.append(
                    f"config key {key}.milestones is required when schedule is multistep"
                )
    return problems


def regularisation_seeds(config: dict) -> list[str]:
    seeds = (config.get("regularisation") or {}).get("seeds") or []
    return [
        f"config key regularisation.seeds: {seed} is not one of `seeds`"
        for seed in sorted(set(seeds) - set(config["seeds"]))
    ]


def pq_order(key: str, p: float, q: float) -> list[str]:
    """The PQ Index is defined for ``0 < p < q`` (the schema keeps both positive)."""
    return [] if p < q else [f"config key {key}: p ({p}) must be smaller than q ({q})"]


def sap_pq(config: dict) -> list[str]:
    sap = config.get("sap") or {}
    problems = pq_order("sap.p, sap.q", sap["p"], sap["q"]) if sap else []
    for j, (p, q) in enumerate((sap.get("ablations") or {}).get("pq") or []):
        problems += pq_order(f"sap.ablations.pq[{j}]", p, q)
    return problems


def stage_experiments(config: dict) -> list[str]:
    """The experiments a stage names exist, and SAP and the spline stage train their own."""
    names = [e["name"] for e in config["experiments"]]
    imported = {e["name"] for e in config["experiments"] if e.get("weights")}
    problems = []
    for section in ("sap", "spline"):
        for j, name in enumerate((config.get(section) or {}).get("experiments", [])):
            if name not in names:
                problems.append(
                    f"config key {section}.experiments[{j}]: {name!r} is not an "
                    f"experiment; experiments: {', '.join(names)}"
                )
            elif name in imported:
                problems.append(
                    f"config key {section}.experiments[{j}]: {name!r} has imported `weights`; "
                    f"{section} trains its networks, so it needs an experiment trained here"
                )
    return problems


def _subset(key: str, values: list, allowed: list, allowed_key: str) -> list[str]:
    return [
        f"config key {key}[{j}]: {v!r} is not one of {allowed_key} "
        f"({', '.join(map(str, allowed))})"
        for j, v in enumerate(values)
        if v not in allowed
    ]


def sap_ablation_experiments(config: dict) -> list[str]:
    sap = config.get("sap") or {}
    chosen = (sap.get("ablations") or {}).get("experiments") or []
    return _subset("sap.ablations.experiments", chosen, sap.get("experiments", []),
    "sap.experiments")


def gradual_run(config: dict) -> list[str]:
    """The gradual stage watches a run that the SAP stage makes: its experiments, method and
    scope, and iterations that the run has."""
    gradual, sap = config.get("gradual") or {}, config.get("sap") or {}
    if not gradual:
        return []
    problems = _subset(
        "gradual.experiments", gradual.get("experiments") or [], sap["experiments"],
        "sap.experiments",
    )  # fmt: skip
    for key in ("method", "scope"):
        if key in gradual and gradual[key] not in sap[f"{key}s"]:
            problems.append(
                f"config key gradual.{key}: {gradual[key]!r} is not one of sap.{key}s "
                f"({', '.join(sap[f'{key}s'])})"
            )
    return problems + [
        f"config key gradual.iterations[{j}]: {t} is beyond sap.iterations ({sap['iterations']}),"
        " the last iteration the watched run trains"
        for j, t in enumerate(gradual.get("iterations") or [])
        if t > sap["iterations"]
    ]


RULES = (
    unique_names,
    own_dataset_names,
    model_arguments,
    known_datasets,
    auto_steps_engine,
    trained_or_imported,
    schedules,
    regularisation_seeds,
    sap_pq,
    stage_experiments,
    sap_ablation_experiments,
    gradual_run,
)


def check_config(config: dict, schema: dict) -> None:
    """Raise :class:`~prunelimit.config.schema.ConfigError` listing every problem, one per line:
    the schema's, or (when the schema holds) those of every rule."""
    problems = schema_problems(config, schema)
    raise_problems(problems or [p for rule in RULES for p in rule(config)])


def _missing(path: str) -> bool:
    """A path the config names that is neither a file nor a folder, nor an output of this
    workflow (under ``results/``, made by a job before it is read)."""
    return Path(path).parts[:1] != ("results",) and not Path(path).exists()


def check_files(config: dict) -> None:
    """Every file a config names exists (relative to the working directory) before any job
    runs: experiments' ``weights`` and ``dense_weights``, datasets' ``file`` and
    ``image_folder``; one error naming each key and path."""
    where = f"relative paths are from the working directory, {Path.cwd()}"
    problems = [
        f"config key experiments[{i}].{key} ({exp['name']}): {exp[key]} does not exist ({where})"
        for i, exp in enumerate(config["experiments"])
        for key in ("weights", "dense_weights")
        if exp.get(key) and _missing(exp[key])
    ]
    problems += [
        f"config key datasets.{name}.{key}: {spec[key]} does not exist ({where})"
        for name, spec in (config.get("datasets") or {}).items()
        for key in ("file", "image_folder")
        if spec.get(key) and _missing(spec[key])
    ]
    raise_problems(problems)


def load_settings(config: dict, schema: str | Path | dict) -> Settings:
    """Validate ``config`` in one pass (schema and cross-checks, errors naming the key) and
    build its typed settings, defaults filled in."""
    check_config(config, schema if isinstance(schema, dict) else load_schema(schema))
    return Settings.from_dict(config)
