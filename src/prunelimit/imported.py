"""Weights trained elsewhere: check a user's state dict against an experiment's model, import it.

An experiment with ``weights: path`` (and optionally ``dense_weights: path``) is not trained: the
``import_weights`` rule checks the file, records its sha256 and writes it where a trained run
would be (``results/{experiment}/seed{seed}/{kind}.pt`` and ``{kind}_metrics.json``), so the
spectrum, the theory and the actual limit follow unchanged. Every problem is a
:class:`WeightsError` naming the experiment, the file and what does not match; nothing is written
before the file has passed every check.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from prunelimit.data import DatasetSplits
from prunelimit.io import file_digest, save_torch, write_json
from prunelimit.limit.regime import NEAR_ZERO, near_zero
from prunelimit.pruning import prunable_weights
from prunelimit.training import final_metrics

KIND_KEYS = {"l1": "weights", "dense": "dense_weights"}


class WeightsError(ValueError):
    """A weights file that cannot be used for an experiment (the message says why)."""


def sha256_of(path: str | Path) -> str:
    return file_digest(path, "sha256")


def provenance(exp: dict) -> dict[str, str]:
    """The sha256 of an experiment's imported weights files (empty for a trained experiment),
    recorded in every output computed from them."""
    return {f"{key}_sha256": sha256_of(exp[key]) for key in KIND_KEYS.values() if exp.get(key)}


def check_state_dict(
    model: nn.Module, path: str | Path, experiment: str, described: str
) -> dict[str, torch.Tensor]:
    """Load ``path`` and check it is a state dict of ``model``: keys, shapes, finite values.

    ``described`` says what the model is (architecture, dataset, classes) for the messages.
    Returns the state dict with the model's dtypes.
    """
    path = Path(path)
    where = f"experiment {experiment!r}, weights file {path}"
    if not path.is_file():
        raise WeightsError(f"{where}: the file does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same message
        raise WeightsError(
            f"{where}: not a PyTorch file holding a state dict ({type(err).__name__}: "
            f"{str(err)[:200]}); save it with torch.save(model.state_dict(), path)"
        ) from err
    if not (
        isinstance(obj, dict)
        and obj
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise WeightsError(
            f"{where}: holds a {type(obj).__name__}, not a state dict (parameter names mapped "
            "to tensors); save it with torch.save(model.state_dict(), path)"
        )
    expected = model.state_dict()
    missing = sorted(set(expected) - set(obj))
    unexpected = sorted(set(obj) - set(expected))
    if missing or unexpected:
        raise WeightsError(
            f"{where}: its keys do not match {described}: missing {missing[:6]}"
            f"{' ...' if len(missing) > 6 else ''}, unexpected {unexpected[:6]}"
            f"{' ...' if len(unexpected) > 6 else ''} (another architecture?)"
        )
    out = {}
    for key, ref in expected.items():
        got = obj[key]
        if got.shape != ref.shape:
            raise WeightsError(
                f"{where}: key {key!r} has shape {tuple(got.shape)}, but {described} expects "
                f"{tuple(ref.shape)} (another width, input size or number of classes?)"
            )
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise WeightsError(f"{where}: key {key!r} holds NaN or infinite values")
        out[key] = got.to(ref.dtype)
    return out


def layer_magnitudes(model: nn.Module) -> dict[str, dict]:
    """Per prunable layer: size, fraction below ``NEAR_ZERO`` and magnitude quantiles."""
    out = {}
    for name, w in prunable_weights(model).items():
        mag = w.detach().abs().reshape(-1).double()
        q = torch.quantile(mag, torch.tensor([0.5, 0.9, 0.99], dtype=torch.float64))
        out[name] = {
            "size": mag.numel(),
            "near_zero": float((mag < NEAR_ZERO).double().mean()),
            "median": float(q[0]),
            "q90": float(q[1]),
            "q99": float(q[2]),
            "max": float(mag.max()),
        }
    return out


def weights_only_regime(model: nn.Module, settings_diagnostic: dict | None) -> dict:
    """What the regime diagnostic can say of imported weights: the fraction near zero and the
    magnitudes per layer; with the training settings (``settings_diagnostic``: the drift part of
    :func:`prunelimit.limit.regime.regime_diagnostic`), the drift rule too, but the plateau of the
    l1 objective stays unknown, so ``in_regime`` is None."""
    out = {
        "near_zero": near_zero(list(prunable_weights(model).values())),
        "near_zero_tol": NEAR_ZERO,
        "layer_magnitudes": layer_magnitudes(model),
        "in_regime": None,
    }
    if settings_diagnostic is None:
        out["note"] = (
            "trained elsewhere and no `train:` block given: the regime verdict needs the "
            "training settings (lr, l1, epochs, schedule, momentum, batch size); only the "
            "magnitudes are reported"
        )
    else:
        out.update({k: v for k, v in settings_diagnostic.items() if k != "in_regime"})
        out["note"] = (
            "trained elsewhere: the drift rule uses the given `train:` settings; whether the "
            "l1 objective plateaued is unknown, so in_regime is not decided"
        )
    return out


def import_weights(
    exp: dict,
    kind: str,
    data: DatasetSplits,
    model: nn.Module,
    source: str | Path,
    model_out: str | Path,
    metrics_out: str | Path,
    header: dict,
    settings_diagnostic: dict | None = None,
) -> dict:
    """Check ``source`` against ``model`` (the experiment's fresh model), then write it to
    ``model_out`` and its metrics (sha256, the losses and accuracies, the weights-only regime
    diagnostic) to ``metrics_out``, after ``header`` (the run's identity)."""
    described = (
        f"model {exp['model']} for {exp['dataset']} (input {tuple(data.input_shape)}, "
        f"{data.num_classes} classes)"
    )
    state = check_state_dict(model, source, exp["name"], described)
    model.load_state_dict(state)
    model.eval()
    metrics = {
        **header,
        "source": str(source),
        "source_sha256": sha256_of(source),
        "trained_here": False,
        "settings": exp.get("train"),
        "final": final_metrics(model, data),
        "converged": None,
    }
    if kind == "l1":
        metrics["regime"] = weights_only_regime(model, settings_diagnostic)
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    metrics["sha256"] = {Path(model_out).name: save_torch(model_out, weights)}
    write_json(metrics_out, metrics)  # after the weights: it records their digest
    return metrics
