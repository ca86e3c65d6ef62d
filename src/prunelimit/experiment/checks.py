from pathlib import Path

from prunelimit.config.schema import ConfigError


def check_models(config: dict, prepared: str | Path = "resources/datasets") -> frozenset[str]:
    """Every experiment whose model is an import path builds and gives ``(N, classes)`` logits
    for its dataset's inputs (:mod:`prunelimit.models.import_path`), checked before any job runs: on
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

    from prunelimit.data.prepared import meta_path, prepared_spec
    from prunelimit.data.registry import DATASETS as REGISTRY_DATASETS
    from prunelimit.data.registry import get_spec
    from prunelimit.models.import_path import ModelError
    from prunelimit.models.registry import build_model
    from prunelimit.partition.codes import check_relu_modules
    from prunelimit.regions.sparsity import mlp_dims

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
