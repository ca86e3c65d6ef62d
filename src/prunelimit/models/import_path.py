"""Any architecture: an ``nn.Module`` named by an import path, and the checks every network
must pass before the pipeline trains or analyses it.

A model name with a colon is an import path: ``package.module:Name`` (a class or a factory
returning an ``nn.Module``, importable from an installed package or the working directory;
``Name`` may be dotted, ``module:Outer.build``) or ``torchvision:<builder>``
(``torchvision.models.get_model_builder``, e.g. ``torchvision:resnet18``). Keyword arguments
come from the experiment's ``model_args``; a builder whose signature names ``num_classes`` (or
``input_shape``; torchvision's builders: ``num_classes``) and is not given it receives the
dataset's. Such networks keep their own initialisation (drawn under the experiment's seed); the
registry's models (:mod:`prunelimit.models`) get the project's.

What every network must satisfy (:func:`check_network`): prunable weights (the ``weight`` of
Linear and Conv layers, :mod:`prunelimit.pruning`) and logits of shape ``(N, classes)`` for a
batch of inputs of the dataset's shape.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Sequence

import torch
from torch import nn

from prunelimit.pruning import count_prunable

TORCHVISION = "torchvision"


class ModelError(ValueError):
    """A network the pipeline cannot use; the message says which and why."""


def is_import_path(name: str) -> bool:
    """Whether a model name is an import path (``module:Name``) rather than a registry name."""
    return ":" in name


def resolve_builder(name: str) -> Callable[..., nn.Module]:
    """The class or factory that ``name`` (``module:Name`` or ``torchvision:builder``) names."""
    module_name, _, attr = name.partition(":")
    if not module_name or not attr:
        raise ModelError(f"model {name!r}: an import path is 'package.module:Name'")
    if module_name == TORCHVISION:
        import torchvision.models

        try:
            return torchvision.models.get_model_builder(attr)
        except ValueError:
            known = ", ".join(sorted(torchvision.models.list_models())[:12])
            raise ModelError(
                f"model {name!r}: torchvision has no model builder {attr!r} (e.g. {known}, ...)"
            ) from None
    if os.getcwd() not in sys.path:  # a module beside the config, as from a notebook's cwd
        sys.path.append(os.getcwd())
    try:
        obj = importlib.import_module(module_name)
    except ImportError as err:
        raise ModelError(
            f"model {name!r}: cannot import module {module_name!r} ({err}); the module must be "
            "importable from the working directory or an installed package"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelError(f"model {name!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if inspect.isclass(obj) and not issubclass(obj, nn.Module):
        raise ModelError(f"model {name!r}: {attr} is a class but not a torch.nn.Module")
    if not callable(obj):
        raise ModelError(f"model {name!r}: {attr} is not a class or a function")
    return obj


def _names(fn: Callable, arg: str) -> bool:
    """Whether ``fn``'s signature names ``arg`` (a ``**kwargs`` catch-all does not count)."""
    try:
        return arg in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def build_imported(name: str, input_shape: Sequence[int], num_classes: int, **kwargs) -> nn.Module:
    """Build the network ``name`` names (an import path) with ``kwargs``; ``num_classes`` and
    ``input_shape`` are passed when the builder takes them and ``kwargs`` does not set them."""
    builder = resolve_builder(name)
    kwargs = dict(kwargs)
    torchvision = name.partition(":")[0] == TORCHVISION  # builders take num_classes via kwargs
    if "num_classes" not in kwargs and (torchvision or _names(builder, "num_classes")):
        kwargs["num_classes"] = int(num_classes)
    if "input_shape" not in kwargs and _names(builder, "input_shape"):
        kwargs["input_shape"] = tuple(input_shape)
    try:
        model = builder(**kwargs)
    except TypeError as err:
        raise ModelError(
            f"model {name!r}: calling it with model_args {kwargs} failed: {err}"
        ) from None
    if not isinstance(model, nn.Module):
        raise ModelError(f"model {name!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def check_network(model: nn.Module, input_shape: Sequence[int], num_classes: int) -> None:
    """Raise :class:`ModelError` unless ``model`` has prunable weights and maps a batch of two
    inputs of ``input_shape`` to logits of shape ``(2, num_classes)`` (checked in eval mode,
    on the model's device; its mode is restored)."""
    if count_prunable(model) == 0:
        raise ModelError(
            "the network has no prunable weights (the `weight` of Linear or Conv layers)"
        )
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, *input_shape, device=param.device))
    except Exception as err:  # noqa: BLE001 - any failure of the forward pass is the message
        shape = ", ".join(map(str, input_shape))
        raise ModelError(
            f"the network fails on a batch of inputs of shape (2, {shape}): "
            f"{type(err).__name__}: {err}"
        ) from None
    finally:
        model.train(was_training)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != (2, int(num_classes)):
        raise ModelError(
            f"the network's output for 2 inputs is {shape}, not logits of shape "
            f"(2, {num_classes}) (the dataset's classes)"
        )
