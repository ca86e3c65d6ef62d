"""The node-pruning methods: a small registry beside :mod:`prunelimit.methods.registry`.

Why a registry of their own: an entry of the weight-pruning registry chooses weight masks from
the weight tensors alone (``path``) or at the initialisation (``at_init``), and every entry is
a valid ``compare.methods`` or ``limit.method``. A node method needs the network's structure
(node layers, BatchNorm: :mod:`prunelimit.spline.nodes`), keeps whole nodes, runs on the
spline early-bird network (:mod:`prunelimit.methods.early_bird`), and two of its names
(``random``, ``magnitude``) mean something else at the weight level. Registering them there
would let ``compare.methods`` name methods that no rule of that stage runs.

An entry's ``scores(model, layers, scope, seed)`` gives each node's keep priority (larger is
kept longer; :func:`prunelimit.spline.pruning.select_nodes` keeps the largest at a kept node
fraction, layer-wise or global).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prunelimit.methods.registry import add_entry, get_entry

if TYPE_CHECKING:  # torch is imported when a method runs, not when the workflow is parsed
    import torch
    from torch import nn

    from prunelimit.spline.nodes import NodeLayer

NodeScores = Callable[["nn.Module", "list[NodeLayer]", str, int], "dict[str, torch.Tensor]"]


@dataclass(frozen=True)
class NodeMethod:
    """A registered node-pruning method (module docstring); ``needs_bn``: only for networks
    whose node layers all have a BatchNorm."""

    name: str
    title: str  # as tables and figures name it
    criterion: str  # what it keeps, in words (docs, tables)
    paper: str
    scores: NodeScores
    needs_bn: bool = False


NODE_METHODS: dict[str, NodeMethod] = {}


def register_node(method: NodeMethod) -> NodeMethod:
    """Make ``method`` available under its name."""
    return add_entry(NODE_METHODS, method.name, method, "node-pruning method")


def get_node_method(name: str) -> NodeMethod:
    """The registered node method ``name``; the error lists the registered names."""
    return get_entry(NODE_METHODS, name, "node-pruning method")


# --------------------------------------------------------------------------- the entries


def _spline(model: nn.Module, layers: list[NodeLayer], scope: str, seed: int) -> dict:
    from prunelimit.spline.pruning import spline_scores

    return spline_scores(model, layers, scope)


def _magnitude(model: nn.Module, layers: list[NodeLayer], scope: str, seed: int) -> dict:
    from prunelimit.spline.pruning import magnitude_scores

    return magnitude_scores(model, layers)


def _random(model: nn.Module, layers: list[NodeLayer], scope: str, seed: int) -> dict:
    from prunelimit.spline.pruning import random_scores

    return random_scores(layers, seed)


def _slimming(model: nn.Module, layers: list[NodeLayer], scope: str, seed: int) -> dict:
    from prunelimit.spline.pruning import slimming_scores

    return slimming_scores(model, layers)


_YOU = "You et al., TMLR 2022"
register_node(
    NodeMethod(
        "spline",
        "Spline",
        "nodes whose boundary is not the near-duplicate of another node's",
        _YOU,
        _spline,
    )
)
register_node(
    NodeMethod(
        "magnitude",
        "Node magnitude",
        "nodes with the largest incoming-row l2 norm",
        "You et al.'s public FCNet code",
        _magnitude,
    )
)
register_node(NodeMethod("random", "Random nodes", "random nodes", "baseline", _random))
register_node(
    NodeMethod(
        "slimming",
        "Network slimming",
        "nodes with the largest |BatchNorm gamma|",
        "Liu et al., ICCV 2017",
        _slimming,
        needs_bn=True,
    )
)
