"""Node-pruned networks made physically smaller, and their training speed.

Node pruning (:mod:`prunelimit.spline.nodes`) zeroes a node's weights; the masked network still
computes every node. :func:`compact` builds the network the pruning describes (the one the spline
stage retrains, :mod:`prunelimit.methods.early_bird`): each node layer
keeps only its kept nodes' rows (weight, bias, BatchNorm parameters and running statistics) and
its consumer only their inputs (a Conv's input channels; a Linear after a Flatten the node's
``in_features / size`` consecutive columns). Its outputs equal the masked network's (a pruned
node's output is 0, so its inputs to the consumer add nothing), and its Linear and Conv weights
number :func:`~prunelimit.spline.nodes.structure`'s ``kept_weights``.

:func:`step_seconds` times training steps, for the paper's training-speed panel (You et al.,
TMLR 2022, Figs. 2-3): the dense network's step time over the compact one's, their steps
alternating on the job's device (:mod:`prunelimit.methods.early_bird`).
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
from torch import nn

from prunelimit.spline.nodes import NodeLayer

STEPS = 3  # timed training steps of each network at least (the median is kept)
MAX_STEPS = 50  # and more, up to this many, while the first network's add up to under
SECONDS = 0.25  # this many seconds (a millisecond step is timed 50 times, a 0.1 s one 3 times)
WARMUP = 1  # untimed steps of each network first


def _resize(mod: nn.Module, attr: str, dim: int, index: torch.Tensor) -> None:
    """Keep ``index`` along ``dim`` of ``mod``'s weight (and of its bias, for ``dim`` 0)."""
    mod.weight = nn.Parameter(mod.weight.detach().index_select(dim, index).clone())
    if dim == 0 and getattr(mod, "bias", None) is not None:
        mod.bias = nn.Parameter(mod.bias.detach()[index].clone())
    setattr(mod, attr, len(index))


def _keep_outputs(mod: nn.Module, index: torch.Tensor) -> None:
    if getattr(mod, "groups", 1) != 1:
        raise ValueError(f"{type(mod).__name__} with groups: its nodes cannot be removed")
    _resize(mod, "out_features" if isinstance(mod, nn.Linear) else "out_channels", 0, index)


def _keep_inputs(mod: nn.Module, index: torch.Tensor) -> None:
    _resize(mod, "in_features" if isinstance(mod, nn.Linear) else "in_channels", 1, index)


def _keep_bn(bn: nn.Module, index: torch.Tensor) -> None:
    for name in ("weight", "bias"):
        if getattr(bn, name) is not None:
            setattr(bn, name, nn.Parameter(getattr(bn, name).detach()[index].clone()))
    for name in ("running_mean", "running_var"):
        if getattr(bn, name) is not None:
            setattr(bn, name, getattr(bn, name)[index].clone())
    bn.num_features = len(index)


def compact(model: nn.Module, layers: list[NodeLayer], kept: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of ``model`` holding only the kept nodes of every node layer (module docstring);
    ``kept``: layer name -> bool per node (True = kept), as
    :func:`~prunelimit.spline.pruning.select_nodes` gives them. ``model`` is not changed."""
    out = copy.deepcopy(model)
    mods = dict(out.named_modules())
    fan_in = {ly.consumer: mods[ly.consumer].weight.shape[1] for ly in layers}
    for layer in layers:
        keep = kept[layer.name].to(mods[layer.name].weight.device).bool()
        index = keep.nonzero().flatten()
        _keep_outputs(mods[layer.name], index)
        if layer.bn is not None:
            _keep_bn(mods[layer.bn], index)
        per = fan_in[layer.consumer] // layer.size  # inputs of the consumer per node
        step = torch.arange(per, device=index.device)
        _keep_inputs(mods[layer.consumer], (index[:, None] * per + step).flatten())
    return out


def step_seconds(models: list[nn.Module], x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Per model the median time of one SGD step (forward, cross-entropy, backward, update) of
    a copy of it on the batch ``(x, y)``, over :data:`STEPS` to :data:`MAX_STEPS` steps (module
    constants) after :data:`WARMUP` untimed ones; the models' steps alternate, so a slower or
    faster spell of the machine meets them all."""
    nets = [copy.deepcopy(m).train() for m in models]
    opts = [torch.optim.SGD(n.parameters(), lr=1e-3, momentum=0.9) for n in nets]
    times: list[list[float]] = [[] for _ in nets]
    i = 0
    while i < WARMUP + STEPS or (sum(times[0]) < SECONDS and i < WARMUP + MAX_STEPS):
        for net, opt, out in zip(nets, opts, times, strict=True):
            if x.is_cuda:
                torch.cuda.synchronize(x.device)
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
            if x.is_cuda:
                torch.cuda.synchronize(x.device)
            if i >= WARMUP:
                out.append(time.perf_counter() - t0)
        i += 1
    return [statistics.median(t) for t in times]
