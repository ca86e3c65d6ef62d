"""The nodes of a network for node (structured) pruning, their masks and their cost.

A **node layer** is a Linear or Conv layer whose outputs go, through an optional BatchNorm, into
a ReLU, and on to more layers of the same ``nn.Sequential``: the hidden units of an MLP, the
channels of a VGG or AlexNet conv layer, the inner convs of a ResNet block. A ResNet stem's and
a block's last conv are not node layers (their outputs are added to a shortcut: zeroing one
would not remove the channel), nor is the classifier. Its **consumer** is the next Linear or
Conv in model order; a node of a Conv before a Flatten feeds ``consumer.in_features / size``
inputs of the consumer.

**Node pruning** zeroes a node's incoming weights (its row of the weight), its bias and its
BatchNorm scale and shift, so its output is exactly 0 for every input; the masks are applied and
kept during training by :func:`prunelimit.pruning.apply_masks` and
:func:`prunelimit.training.loop.fit`. A kept node mask is a bool vector per node layer (True =
kept); the **kept node fraction** is kept nodes / all nodes of the node layers.

**Cost** of the pruned architecture (:func:`structure`): a layer's kept weights are
``kept outputs x kept inputs x kernel elements``, its MACs per sample those times its output
positions; forward FLOPs = 2 x MACs per sample over every Linear and Conv (biases, BatchNorm,
ReLU and pooling not counted). The **kept weight fraction** is kept weights / ``D``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from prunelimit.pruning import PRUNABLE_TYPES, Masks

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True)
class NodeLayer:
    """A node layer (module docstring): module names of the layer, its BatchNorm (or None) and
    its consumer; ``size`` is its number of nodes (outputs or channels)."""

    name: str
    bn: str | None
    consumer: str
    size: int


def node_layers(model: nn.Module) -> list[NodeLayer]:
    """The node layers of ``model`` in model order (module docstring)."""
    order = [n for n, m in model.named_modules() if isinstance(m, PRUNABLE_TYPES)]
    found = []
    for parent_name, parent in model.named_modules():
        if not isinstance(parent, nn.Sequential):
            continue
        kids = list(parent.named_children())
        for i, (child, mod) in enumerate(kids):
            if not isinstance(mod, PRUNABLE_TYPES):
                continue
            j, bn = i + 1, None
            if j < len(kids) and isinstance(kids[j][1], BN_TYPES):
                bn, j = kids[j][0], j + 1
            if j + 1 < len(kids) and isinstance(kids[j][1], nn.ReLU):
                name = f"{parent_name}.{child}" if parent_name else child
                bn_name = None if bn is None else (f"{parent_name}.{bn}" if parent_name else bn)
                found.append((name, bn_name, int(mod.weight.shape[0])))
    layers = []
    for name, bn, size in sorted(found, key=lambda f: order.index(f[0])):
        k = order.index(name)
        if k + 1 == len(order):
            continue  # nothing consumes it (cannot happen for a classifier network)
        layers.append(NodeLayer(name, bn, order[k + 1], size))
    return layers


def has_batchnorm(layers: list[NodeLayer]) -> bool:
    """Whether every node layer has a BatchNorm (network slimming's scores need one)."""
    return bool(layers) and all(layer.bn is not None for layer in layers)


def hyperplanes(model: nn.Module, layer: NodeLayer) -> torch.Tensor:
    """``(size, fan_in + 1)`` float64: per node the row ``[w | b]`` of its pre-activation
    ``w . x + b`` on its input patch, with the BatchNorm (eval: running statistics) folded in:
    ``w = gamma / s * W``, ``b = gamma / s * (b0 - mean) + beta`` (``s = sqrt(var + eps)``)."""
    mods = dict(model.named_modules())
    conv = mods[layer.name]
    w = conv.weight.detach().double().reshape(layer.size, -1)
    b = conv.bias.detach().double() if conv.bias is not None else w.new_zeros(layer.size)
    if layer.bn is not None:
        bn = mods[layer.bn]
        scale = bn.weight.detach().double() / (bn.running_var.double() + bn.eps).sqrt()
        w = scale[:, None] * w
        b = scale * (b - bn.running_mean.double()) + bn.bias.detach().double()
    return torch.cat([w, b[:, None]], dim=1)


def node_param_masks(
    model: nn.Module, layers: list[NodeLayer], kept: dict[str, torch.Tensor]
) -> Masks:
    """The parameter masks of kept node masks ``kept`` (layer name -> bool per node): per node
    layer its weight rows, bias, BatchNorm weight and bias (True = kept)."""
    params = dict(model.named_parameters())
    masks: Masks = {}
    for layer in layers:
        keep = kept[layer.name].bool()
        for prefix in (layer.name, layer.bn):
            for suffix in ("weight", "bias"):
                name = f"{prefix}.{suffix}"
                if prefix is None or name not in params:
                    continue
                p = params[name]
                masks[name] = keep.to(p.device).reshape(-1, *([1] * (p.dim() - 1))).expand_as(p)
    return {n: m.clone() for n, m in masks.items()}


@torch.no_grad()
def output_positions(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """Output positions per sample of every Linear and Conv (1 for a Linear; the output's
    spatial size for a Conv), from one forward pass of a zero input in eval mode."""
    positions: dict[str, int] = {}
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, PRUNABLE_TYPES):

            def hook(m, _, out, name=name):  # noqa: ANN001 - torch's hook signature
                positions[name] = out[0].numel() // m.weight.shape[0]

            hooks.append(mod.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return positions


def structure(
    model: nn.Module,
    layers: list[NodeLayer],
    kept: dict[str, torch.Tensor] | None,
    positions: dict[str, int],
) -> dict:
    """The pruned architecture's size (module docstring): ``kept_nodes``, ``nodes``,
    ``kept_weights``, ``weights`` (``D``) and ``forward_flops`` per sample, of kept node masks
    ``kept`` (None: the dense network); ``positions`` from :func:`output_positions`."""
    mods = dict(model.named_modules())
    out_kept = {ly.name: int(kept[ly.name].sum()) if kept else ly.size for ly in layers}
    in_kept: dict[str, float] = {}
    for layer in layers:
        consumer = mods[layer.consumer]
        fan_in = consumer.weight.shape[1]
        if fan_in % layer.size:
            raise ValueError(f"{layer.consumer} takes {fan_in} inputs, not a multiple of "
                             f"{layer.name}'s {layer.size} nodes")  # fmt: skip
        in_kept[layer.consumer] = out_kept[layer.name] * (fan_in // layer.size)
    weights = kept_weights = macs = 0
    for name in positions:
        w = mods[name].weight
        kernel = w[0, 0].numel()
        n_in = in_kept.get(name, w.shape[1])
        n_out = out_kept.get(name, w.shape[0])
        weights += w.numel()
        kept_weights += n_out * n_in * kernel
        macs += positions[name] * n_out * n_in * kernel
    return {
        "kept_nodes": sum(out_kept.values()),
        "nodes": sum(ly.size for ly in layers),
        "kept_weights": int(kept_weights),
        "weights": int(weights),
        "forward_flops": 2 * int(macs),
    }
