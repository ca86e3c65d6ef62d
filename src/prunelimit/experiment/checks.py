"""What a config's networks must do before any job runs: import-path models build for their
dataset and give logits, and a spline experiment's ReLUs are modules its partition codes see.

torch and the models are imported only when a config names an import path, so that parsing a
config of registry models stays quick.
"""

from __future__ import annotations

from pathlib import Path

from prunelimit.config.schema import raise_problems
from prunelimit.config.settings import ExperimentSettings, Settings
from prunelimit.data.prepared import meta_path, prepared_spec
from prunelimit.data.registry import DATASETS as REGISTRY_DATASETS
from prunelimit.data.registry import DatasetSpec, get_spec


def check_models(settings: Settings, prepared: str | Path = "resources/datasets") -> frozenset[str]:
    """Every experiment whose model is an import path builds and gives ``(N, classes)`` logits
    for its dataset's inputs (:mod:`prunelimit.models.import_path`), checked before any job
    runs: on the CPU, with the shape of a known dataset or of a prepared one of the config's own
    (``{prepared}/{name}.json``; one not yet prepared is checked by the job that builds it).
    One of ``spline.experiments`` must also apply every ReLU as an ``nn.ReLU`` module, the only
    ReLUs its partition codes see. One error naming each experiment, its model and what is
    wrong.

    Returns the import-path experiments checked here whose networks are plain ReLU MLPs, the
    networks the linear-region bound applies to (registry models: ``REGION_MODELS``)."""
    spline = list(settings.spline.experiments)
    problems, plain_mlps = [], set()
    for exp in settings.experiments:
        spec = _dataset_spec(exp.dataset, Path(prepared)) if ":" in exp.model else None
        if spec is None:
            continue
        where = spline.index(exp.name) if exp.name in spline else None
        problem, plain = _check_network(exp, spec, where)
        problems += [problem] if problem else []
        plain_mlps |= {exp.name} if plain else set()
    raise_problems(problems)
    return frozenset(plain_mlps)


def _dataset_spec(name: str, prepared: Path) -> DatasetSpec | None:
    """The shape and classes of a known dataset, or of a prepared one of the config's own
    (None: not yet prepared)."""
    if name in REGISTRY_DATASETS:
        return get_spec(name)
    data = prepared / f"{name}.pt"
    return prepared_spec(data) if meta_path(data).is_file() else None


def _check_network(
    exp: ExperimentSettings, spec: DatasetSpec, spline_index: int | None
) -> tuple[str | None, bool]:
    """(the problem of ``exp``'s import-path network, or None; whether it is a plain ReLU MLP).
    ``spline_index``: its place in ``spline.experiments``, whose ReLUs must be modules."""
    import torch

    from prunelimit.models.import_path import ModelError
    from prunelimit.models.registry import build_model
    from prunelimit.partition.codes import check_relu_modules
    from prunelimit.regions.sparsity import mlp_dims

    shape, classes = spec.input_shape, spec.num_classes
    try:
        model = build_model(exp.model, shape, classes, seed=0, **exp.model_args)
    except ModelError as err:
        return f"experiment {exp.name!r}: {err}", False
    if spline_index is not None:
        try:
            check_relu_modules(model, torch.zeros(2, *shape))
        except ValueError as err:
            return (
                f"config key spline.experiments[{spline_index}]: experiment {exp.name!r} "
                f"(model {exp.model!r}): {err}"
            ), False
    try:
        mlp_dims(model)
    except ValueError:
        return None, False
    return None, True


def check_methods(s: Settings) -> None:
    """Every method a config names is registered (:mod:`prunelimit.methods.registry`) for its
    place: ``sap.methods`` iterative, ``compare.methods`` not, ``limit.method`` with nested
    masks; one error naming each key, the value and what it may be."""
    from prunelimit.methods.registry import METHODS, names

    iterative = names("iterative")
    others = [n for n in METHODS if n not in iterative]
    places = [("sap.methods", list(s.sap.methods), iterative)]
    places.append(("compare.methods", list(s.compare.methods), others))
    places.append(("limit.method", [s.limit.method], names(nested=True)))
    raise_problems(
        [
            f"config key {key}{f'[{j}]' if key != 'limit.method' else ''}: {value!r} is not one "
            f"of the registered methods it may name ({', '.join(allowed)})"
            for key, chosen, allowed in places
            for j, value in enumerate(chosen)
            if value not in allowed
        ]
    )
