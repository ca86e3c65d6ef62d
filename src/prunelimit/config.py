"""Config validation with errors that name the offending key.

The JSON schema (``workflow/schemas/config.schema.yaml``) checks types, ranges and the allowed
models and datasets; :func:`check_config` adds the cross-references a schema cannot express
(unique experiment names, names referred to by other sections, schedule milestones).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import jsonschema
import yaml

KINDS = ("dense", "l1", "l2")  # the trainings of an experiment (prunelimit.experiment.runs)


def trained_kinds(exp: dict) -> list[str]:
    """The kinds trained for an experiment: ``dense`` and ``l1``, and ``l2`` when it has an
    ``l2_train`` block."""
    return ["dense", "l1"] + (["l2"] if exp.get("l2_train") else [])


def predicted_kinds(exp: dict) -> list[str]:
    """The kinds whose limit is predicted (spectrum, theory) and searched: ``l1``; with an
    ``l2_train`` block (the role of regularisation) ``dense`` and ``l2`` too."""
    return ["l1", "dense", "l2"] if exp.get("l2_train") else ["l1"]


class ConfigError(ValueError):
    """The config is invalid; the message names the key and the allowed values."""


def _key(path: Iterable) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _message(err: jsonschema.ValidationError) -> str:
    key = _key(err.absolute_path)
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        where = f"{key}." if key != "<top level>" else ""
        return f"missing config key {where}{missing}"
    if err.validator == "enum":
        allowed = ", ".join(map(str, err.validator_value))
        return f"config key {key}: {err.instance!r} is not allowed; allowed values: {allowed}"
    if err.validator == "anyOf":  # a name from a list, or a string of a given form
        forms = []
        for sub in err.validator_value:
            if "enum" in sub:
                forms.append(", ".join(map(str, sub["enum"])))
            elif "pattern" in sub:
                forms.append(
                    "or an import path 'package.module:Name'"
                    if ":" in sub["pattern"]
                    else f"or a string matching {sub['pattern']}"
                )
        return f"config key {key}: {err.instance!r} is not allowed; allowed values: " + " ".join(
            forms
        )
    if err.validator == "additionalProperties":
        return f"config key {key}: {err.message}"
    return f"config key {key}: {err.message}"


def load_schema(path: str | Path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def check_config(config: dict, schema: dict) -> None:
    """Raise :class:`ConfigError` naming the first problem (all problems, one per line)."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_message(e) for e in errors]
    if not problems:
        problems = _cross_checks(config)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _cross_checks(config: dict) -> list[str]:
    from prunelimit.data.registry import DATASETS as REGISTRY_DATASETS

    problems = []
    names = [e["name"] for e in config["experiments"]]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"config key experiments: the name {name!r} is used more than once")
    runs = []  # (index, block name, training settings) of every run trained here
    own_data = config.get("datasets") or {}
    for name in sorted(set(own_data) & set(REGISTRY_DATASETS)):
        problems.append(f"config key datasets.{name}: the name of a known dataset; rename it")
    for i, exp in enumerate(config["experiments"]):
        if exp.get("train"):
            runs.append((i, "train", exp["train"]))
            for block in ("l1_train", "l2_train"):
                if exp.get(block):
                    runs.append((i, block, {**exp["train"], **exp[block]}))
        if exp["model"] != "mlp" and ":" not in exp["model"] and exp.get("model_args"):
            problems.append(
                f"config key experiments[{i}].model_args: of the registry's models only 'mlp' "
                f"takes arguments, not {exp['model']!r} (an import path takes any)"
            )
        if exp["model"] == "mlp" and set(exp.get("model_args", {})) - {"widths"}:
            problems.append(f"config key experiments[{i}].model_args: 'mlp' takes only widths")
        if exp["dataset"] not in REGISTRY_DATASETS and exp["dataset"] not in own_data:
            known = ", ".join([*REGISTRY_DATASETS, *own_data])
            problems.append(
                f"config key experiments[{i}].dataset: {exp['dataset']!r} is neither a known "
                f"dataset nor one of the config's `datasets`; known: {known}"
            )
        h = {**config["hessian"], **exp.get("hessian", {})}
        if h["lanczos_steps"] == "auto" and h["engine"] != "builtin":
            problems.append(
                f"config key experiments[{i}] ({exp['name']}): hessian.lanczos_steps auto "
                "needs hessian.engine builtin (pyhessian does not expose its Lanczos "
                "coefficients)"
            )
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
        for block in ("l1_train", "l2_train"):
            if exp.get(block) and not exp.get("train"):
                problems.append(f"config key experiments[{i}].{block}: needs a `train` block")
    for i, block, t in runs:
        key = f"experiments[{i}].{block}"
        if t["warmup_epochs"] >= t["epochs"] and t["warmup_epochs"] > 0:
            problems.append(
                f"config key {key}.warmup_epochs ({t['warmup_epochs']}) must be "
                f"smaller than {key}.epochs ({t['epochs']})"
            )
        if t["schedule"] == "multistep" and not t.get("milestones"):
            problems.append(f"config key {key}.milestones is required when schedule is multistep")
    reg_seeds = (config.get("regularisation") or {}).get("seeds") or []
    for seed in sorted(set(reg_seeds) - set(config["seeds"])):
        problems.append(f"config key regularisation.seeds: {seed} is not one of `seeds`")
    sap = config.get("sap", {})
    if sap and not sap["p"] < sap["q"]:
        problems.append(f"config key sap.p ({sap['p']}) must be smaller than sap.q ({sap['q']})")
    for j, name in enumerate((sap.get("ablations") or {}).get("experiments") or []):
        if name not in sap.get("experiments", []):
            problems.append(
                f"config key sap.ablations.experiments[{j}]: {name!r} is not one of "
                f"sap.experiments ({', '.join(sap.get('experiments', []))})"
            )
    imported = {e["name"] for e in config["experiments"] if e.get("weights")}
    for section in ("sap", "spline"):
        for j, name in enumerate(config.get(section, {}).get("experiments", [])):
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


def check_weights_files(config: dict) -> None:
    """Every ``weights``/``dense_weights`` file must exist (relative to the working directory)
    before any job runs, unless it is an output of this workflow (a path under ``results/``):
    one error naming experiment and file."""
    problems = []
    for exp in config["experiments"]:
        for key in ("weights", "dense_weights"):
            path = exp.get(key)
            if not path or Path(path).parts[:1] == ("results",):
                continue
            if not Path(path).is_file():
                problems.append(
                    f"experiment {exp['name']!r}: {key} file {path} does not exist (relative "
                    f"paths are from the working directory, {Path.cwd()})"
                )
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def check_models(config: dict, prepared: str | Path = "resources/datasets") -> frozenset[str]:
    """Every experiment whose model is an import path builds and gives ``(N, classes)`` logits
    for its dataset's inputs (:mod:`prunelimit.model_import`), checked before any job runs: on
    the CPU, with the shape of a known dataset or of a prepared one of the config's own
    (``{prepared}/{name}.json``; one not yet prepared is checked by the job that builds it).
    One of ``spline.experiments`` must also apply every ReLU as an ``nn.ReLU`` module, the only
    ReLUs its partition codes see. One error naming each experiment, its model and what is
    wrong.

    Returns the import-path experiments checked here whose networks are plain ReLU MLPs, the
    networks the linear-region bound applies to (registry models: ``REGION_MODELS``)."""
    custom = [e for e in config["experiments"] if ":" in e["model"]]
    if not custom:
        return frozenset()
    import torch

    from prunelimit.data.prepare import meta_path, prepared_spec
    from prunelimit.data.registry import DATASETS as REGISTRY_DATASETS
    from prunelimit.data.registry import get_spec
    from prunelimit.model_import import ModelError
    from prunelimit.models import build_model
    from prunelimit.regions.sparsity import mlp_dims
    from prunelimit.spline.tickets import check_relu_modules

    spline = list((config.get("spline") or {}).get("experiments") or [])
    problems, plain_mlps = [], set()
    for exp in custom:
        if exp["dataset"] in REGISTRY_DATASETS:
            spec = get_spec(exp["dataset"])
            shape, classes = spec.input_shape, spec.num_classes
        else:
            data = Path(prepared) / f"{exp['dataset']}.pt"
            if not meta_path(data).is_file():
                continue
            spec = prepared_spec(data)
            shape, classes = spec.input_shape, spec.num_classes
        try:
            model = build_model(exp["model"], shape, classes, seed=0, **exp.get("model_args", {}))
        except ModelError as err:
            problems.append(f"experiment {exp['name']!r}: {err}")
            continue
        if exp["name"] in spline:
            try:
                check_relu_modules(model, torch.zeros(2, *shape))
            except ValueError as err:
                problems.append(
                    f"config key spline.experiments[{spline.index(exp['name'])}]: experiment "
                    f"{exp['name']!r} (model {exp['model']!r}): {err}"
                )
        try:
            mlp_dims(model)
            plain_mlps.add(exp["name"])
        except ValueError:
            pass
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    return frozenset(plain_mlps)


def gpus_per_job(device: str) -> int:
    """GPUs a GPU-capable rule asks the scheduler for: 0 for ``cpu``, 1 for ``cuda``/``cuda:N``;
    for ``auto``, 1 only when this machine shows an NVIDIA GPU (so a CPU-only laptop runs
    several training jobs at once). On a cluster, say ``cuda``: the head node may have none."""
    if device == "cpu":
        return 0
    if device.startswith("cuda"):
        return 1
    import os
    import shutil

    return int(os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi") is not None)
