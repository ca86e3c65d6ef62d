"""The CUDA guard: a ``TorchDispatchMode`` that raises, on any device, wherever PyTorch's CUDA
code would under ``torch.use_deterministic_algorithms(True)``: a CPU run rehearses a GPU one.

The list is ``alerts.json`` beside this module, derived from the installed PyTorch's binaries by
:mod:`prunelimit.guard.derive`: each caller string PyTorch alerts with, its aten operators and,
for those that alert only in some cases, a condition (:data:`CONDITIONS`). An operator is matched
by its name without the trailing underscore: its functional, in-place and out variants alike.
``PRUNELIMIT_CUDA_GUARD=1`` turns the guard on for a whole job (:func:`activate_from_env`,
called by ``runtime.setup``); ``with CudaGuard():`` for a block. A dispatch mode sees the
operators the backward pass runs too.

Not seen: what PyTorch's Python code decides before dispatch. ``F.interpolate``, ``F.pad``
(replicate) and ``F.max_pool3d`` take decompositions on CUDA in deterministic mode; on the CPU
the guard sees the CPU path's operators and may raise where CUDA would not.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack

DATA = Path(__file__).with_name("alerts.json")
ENV = "PRUNELIMIT_CUDA_GUARD"

Bound = dict[str, object]  # an operator call's arguments by schema name, defaults filled in


def _has_dim(func: torch._ops.OpOverload, _b: Bound) -> bool:
    return any(a.name == "dim" for a in func._schema.arguments)


# condition -> (what it means, whether a call meets it)
CONDITIONS: dict[str, tuple[str, Callable[[torch._ops.OpOverload, Bound], bool]]] = {
    "indices_output": ("with a dim: the overloads that return indices", _has_dim),
    "reduction_not_none": (
        "reduction 'mean' or 'sum'", lambda f, b: b.get("reduction", 1) != 0
    ),
    "floating_input": ("floating-point input", lambda f, b: b["self"].is_floating_point()),
    "with_weights": ("weights given", lambda f, b: b.get("weights") is not None),
    "mode_max": ("mode='max' (2)", lambda f, b: b.get("mode") == 2),
    "reduce_multiply": (
        "a tensor src and reduce='multiply'",
        lambda f, b: isinstance(b.get("src"), torch.Tensor) and b.get("reduce") == "multiply",
    ),
    "reduce_prod": ("reduce='prod'", lambda f, b: b.get("reduce") == "prod"),
    "quantized_self": ("a quantized tensor", lambda f, b: b["self"].is_quantized),
    "not_reached": ("never: deterministic mode does not reach the kernel", lambda f, b: False),
}  # fmt: skip


def bind(func: torch._ops.OpOverload, args: tuple, kwargs: dict) -> Bound:
    """The call's arguments by their schema names, defaults filled in."""
    out: Bound = {}
    for i, a in enumerate(func._schema.arguments):
        if i < len(args) and not a.kwarg_only:
            out[a.name] = args[i]
        elif a.name in kwargs:
            out[a.name] = kwargs[a.name]
        elif a.has_default_value():
            out[a.name] = a.default_value
    return out


@dataclass(frozen=True)
class Alert:
    """One operator that alerts on CUDA: the caller string and the condition (None: always)."""

    op: str
    caller: str
    condition: str | None

    def applies(self, func: torch._ops.OpOverload, args: tuple, kwargs: dict) -> bool:
        return self.condition is None or CONDITIONS[self.condition][1](
            func, bind(func, args, kwargs)
        )

    def describe(self) -> str:
        return "always" if self.condition is None else CONDITIONS[self.condition][0]


def load_alerts(path: Path = DATA) -> tuple[dict[str, list[Alert]], dict]:
    """The operator name -> alerts table of ``path`` and its content; raises if the file was
    derived from another PyTorch than the installed one."""
    data = json.loads(Path(path).read_text())
    if data["torch"] != torch.__version__:
        raise RuntimeError(
            f"{path} lists the alerts of torch {data['torch']}, but torch {torch.__version__} is "
            "installed: rerun python -m prunelimit.guard.derive"
        )
    table: dict[str, list[Alert]] = {}
    for entry in data["alerts"]:
        for op in entry["ops"]:
            table.setdefault(op, []).append(Alert(op, entry["caller"], entry["condition"]))
    return table, data


def op_name(func: torch._ops.OpOverload) -> str | None:
    """``aten::put_`` -> ``put``; None for another namespace."""
    name = func._schema.name
    return name.removeprefix("aten::").rstrip("_") if name.startswith("aten::") else None


class CudaGuard(TorchDispatchMode):
    """Raise ``RuntimeError`` on every operator call CUDA's deterministic mode would refuse,
    naming the operator, PyTorch's caller string and where the list came from."""

    def __init__(self, path: Path = DATA):
        super().__init__()
        self.table, data = load_alerts(path)
        libs = ", ".join(
            f"{lib['file']} (sha256 {lib['sha256'][:12]})" for lib in data["libraries"]
        )
        self.source = (
            f"{Path(path).name}, derived on {data['derived_on']} by `{data['derived_by']}` "
            f"from {libs} of torch {data['torch']}"
        )
        self._alerts: dict[torch._ops.OpOverload, list[Alert]] = {}

    def alerts_of(self, func: torch._ops.OpOverload) -> list[Alert]:
        if func not in self._alerts:
            self._alerts[func] = self.table.get(op_name(func) or "", [])
        return self._alerts[func]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        for alert in self.alerts_of(func):
            if alert.applies(func, args, kwargs):
                raise RuntimeError(
                    f"{alert.caller} does not have a deterministic implementation on CUDA: "
                    f"{func} would raise under torch.use_deterministic_algorithms(True) on a "
                    f"GPU (it alerts: {alert.describe()}). Raised by prunelimit's CUDA guard "
                    f"({ENV}); the list is {self.source}"
                )
        return func(*args, **kwargs)


_JOB_GUARD: CudaGuard | None = None


def activate_from_env() -> CudaGuard | None:
    """With ``PRUNELIMIT_CUDA_GUARD=1``, the guard for the rest of the process (entered once,
    kept on the dispatch-mode stack); ``0`` or unset: None."""
    global _JOB_GUARD
    value = os.environ.get(ENV, "")
    if value not in ("", "0", "1"):
        raise ValueError(f"{ENV} must be 1 (on) or 0 (off), got {value!r}")
    if value != "1":
        return None
    if _JOB_GUARD is None or not any(m is _JOB_GUARD for m in _get_current_dispatch_mode_stack()):
        _JOB_GUARD = CudaGuard()
        _JOB_GUARD.__enter__()
        print(f"{ENV}=1: ops that alert on CUDA raise here too (alerts.json)", file=sys.stderr)
    return _JOB_GUARD
