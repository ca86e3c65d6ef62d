"""A config validated once, with every problem named by its key, and its typed settings.

:func:`load_settings` checks a config against its schema (types and ranges), builds its typed
:class:`~prunelimit.config.settings.Settings` (defaults filled in) and then checks every rule of
:data:`RULES`: what a schema cannot express, one function each, taking the settings and
returning its problems as messages that name the key. :func:`check_files` checks that the files
a config names exist, before any job runs. No torch here: the workflow runs these when it
parses the config.
"""

from __future__ import annotations

from pathlib import Path

from prunelimit.config.kinds import OVERRIDE_BLOCKS, WEIGHTS_KEYS
from prunelimit.config.schema import SCHEMA, load_schema, raise_problems, schema_problems
from prunelimit.config.settings import Settings
from prunelimit.data.registry import DATASETS as REGISTRY_DATASETS


def unique_names(s: Settings) -> list[str]:
    names = [e.name for e in s.experiments]
    return [
        f"config key experiments: the name {name!r} is used more than once"
        for name in sorted({n for n in names if names.count(n) > 1})
    ]


def own_dataset_names(s: Settings) -> list[str]:
    return [
        f"config key datasets.{name}: the name of a known dataset; rename it"
        for name in sorted(set(s.datasets) & set(REGISTRY_DATASETS))
    ]


def model_arguments(s: Settings) -> list[str]:
    problems = []
    for i, exp in enumerate(s.experiments):
        if ":" not in exp.model and exp.model != "mlp" and exp.model_args:
            problems.append(
                f"config key experiments[{i}].model_args: of the registry's models only 'mlp' "
                f"takes arguments, not {exp.model!r} (an import path takes any)"
            )
        if exp.model == "mlp" and set(exp.model_args) - {"widths"}:
            problems.append(f"config key experiments[{i}].model_args: 'mlp' takes only widths")
    return problems


def known_datasets(s: Settings) -> list[str]:
    known = ", ".join([*REGISTRY_DATASETS, *s.datasets])
    return [
        f"config key experiments[{i}].dataset: {exp.dataset!r} is neither a known dataset "
        f"nor one of the config's `datasets`; known: {known}"
        for i, exp in enumerate(s.experiments)
        if exp.dataset not in REGISTRY_DATASETS and exp.dataset not in s.datasets
    ]


def auto_steps_engine(s: Settings) -> list[str]:
    return [
        f"config key experiments[{i}] ({exp.name}): hessian.lanczos_steps auto needs "
        "hessian.engine builtin (pyhessian does not expose its Lanczos coefficients)"
        for i, exp in enumerate(s.experiments)
        if (h := s.hessian_for(exp.name)).lanczos_steps == "auto" and h.engine != "builtin"
    ]


def trained_or_imported(s: Settings) -> list[str]:
    problems = []
    for i, exp in enumerate(s.experiments):
        if not exp.train and not exp.imported:
            problems.append(
                f"config key experiments[{i}] ({exp.name}): give `train` (to train it here) "
                "or `weights` (a state dict trained elsewhere)"
            )
        if exp.dense_weights and not exp.imported:
            problems.append(
                f"config key experiments[{i}].dense_weights: only with `weights` (the dense "
                "network of a trained experiment is trained here)"
            )
        for block in OVERRIDE_BLOCKS.values():
            if getattr(exp, block) and not exp.train:
                problems.append(f"config key experiments[{i}].{block}: needs a `train` block")
    return problems


def schedules(s: Settings) -> list[str]:
    """Every run trained here: warm-up shorter than the run, milestones for ``multistep``."""
    problems = []
    for i, exp in enumerate(s.experiments):
        if not exp.train:
            continue
        blocks = {"train": exp.train}
        blocks.update({b: {**exp.train, **getattr(exp, b)} for b in OVERRIDE_BLOCKS.values()})
        for block, t in blocks.items():
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


def regularisation_seeds(s: Settings) -> list[str]:
    return [
        f"config key regularisation.seeds: {seed} is not one of `seeds`"
        for seed in sorted(set(s.regularisation.seeds or []) - set(s.seeds))
    ]


def pq_order(key: str, p: float, q: float) -> list[str]:
    """The PQ Index is defined for ``0 < p < q`` (the schema keeps both positive)."""
    return [] if p < q else [f"config key {key}: p ({p}) must be smaller than q ({q})"]


def sap_pq(s: Settings) -> list[str]:
    problems = pq_order("sap.p, sap.q", s.sap.p, s.sap.q)
    for j, (p, q) in enumerate(s.sap.ablations.pq):
        problems += pq_order(f"sap.ablations.pq[{j}]", p, q)
    return problems


def stage_experiments(s: Settings) -> list[str]:
    """The experiments a stage names exist, and SAP and the spline stage train their own."""
    names = [e.name for e in s.experiments]
    imported = {e.name for e in s.experiments if e.imported}
    problems = _subsets(
        ("sap.ablations.experiments", s.sap.ablations.experiments, s.sap.experiments),
        ("gradual.experiments", s.gradual.experiments, s.sap.experiments),
    )
    for section in ("sap", "spline"):
        for j, name in enumerate(getattr(s, section).experiments):
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


def _subsets(*checks: tuple[str, list | None, list]) -> list[str]:
    """``(key, chosen, allowed)``: every entry of ``chosen`` (None: nothing chosen) is one of
    ``allowed``, the SAP stage's experiments."""
    return [
        f"config key {key}[{j}]: {v!r} is not one of sap.experiments ({', '.join(allowed)})"
        for key, chosen, allowed in checks
        for j, v in enumerate(chosen or [])
        if v not in allowed
    ]


def gradual_run(s: Settings) -> list[str]:
    """The gradual stage watches a run that the SAP stage makes: one of its methods and scopes,
    at iterations that the run has (``gradual.iterations: []`` turns the stage off)."""
    gradual, sap = s.gradual, s.sap
    if not sap.experiments or gradual.iterations == []:
        return []
    problems = [
        f"config key gradual.{key}: {value!r} is not one of sap.{key}s ({', '.join(allowed)})"
        for key, value, allowed in (
            ("method", gradual.method, sap.methods),
            ("scope", gradual.scope, sap.scopes),
        )
        if value not in allowed
    ]
    return problems + [
        f"config key gradual.iterations[{j}]: {t} is beyond sap.iterations ({sap.iterations}), "
        "the last iteration the watched run trains"
        for j, t in enumerate(gradual.iterations or [])
        if t > sap.iterations
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
    gradual_run,
)


def load_settings(config: dict, schema: str | Path | dict | None = None) -> Settings:
    """Validate ``config`` (schema, then every rule of :data:`RULES`) and build its typed
    settings, defaults filled in; one :class:`~prunelimit.config.schema.ConfigError` lists
    every problem, each naming its key. ``schema``: a path or the loaded schema (default: the
    repository's)."""
    schema = schema if isinstance(schema, dict) else load_schema(schema or SCHEMA)
    raise_problems(schema_problems(config, schema))
    settings = Settings.from_dict(config)
    raise_problems([p for rule in RULES for p in rule(settings)])
    return settings


def _missing(path: str) -> bool:
    """A path the config names that is neither a file nor a folder, nor an output of this
    workflow (under ``results/``, made by a job before it is read)."""
    return Path(path).parts[:1] != ("results",) and not Path(path).exists()


def check_files(s: Settings) -> None:
    """Every file a config names exists (relative to the working directory) before any job
    runs: experiments' ``weights`` and ``dense_weights``, datasets' ``file`` and
    ``image_folder``; one error naming each key and path."""
    where = f"relative paths are from the working directory, {Path.cwd()}"
    problems = [
        f"config key experiments[{i}].{key} ({exp.name}): {path} does not exist ({where})"
        for i, exp in enumerate(s.experiments)
        for key in WEIGHTS_KEYS.values()
        if (path := getattr(exp, key)) and _missing(path)
    ]
    problems += [
        f"config key datasets.{name}.{key}: {path} does not exist ({where})"
        for name, own in s.datasets.items()
        for key in ("file", "image_folder")
        if (path := getattr(own, key)) and _missing(path)
    ]
    raise_problems(problems)
