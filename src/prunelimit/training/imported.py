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

from prunelimit.config.kinds import WEIGHTS_KEYS
from prunelimit.config.settings import ExperimentSettings
from prunelimit.io import file_digest, load_given


class WeightsError(ValueError):
    """A weights file that cannot be used for an experiment (the message says why)."""


def sha256_of(path: str | Path) -> str:
    return file_digest(path, "sha256")


def provenance(exp: ExperimentSettings) -> dict[str, str]:
    """The sha256 of an experiment's imported weights files (empty for a trained experiment),
    recorded in every output computed from them."""
    files = {key: getattr(exp, key) for key in WEIGHTS_KEYS.values()}
    return {f"{key}_sha256": sha256_of(path) for key, path in files.items() if path}


def check_state_dict(
    model: nn.Module, path: str | Path, experiment: str, described: str
) -> dict[str, torch.Tensor]:
    """Load ``path`` and check it is a state dict of ``model``: keys, shapes, finite values.

    ``described`` says what the model is (architecture, dataset, classes) for the messages.
    Returns the state dict with the model's dtypes.
    """
    path = Path(path)
    where = f"experiment {experiment!r}, weights file {path}"
    obj = load_given(path, where, WeightsError, "save it with torch.save(model.state_dict(), path)")
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
