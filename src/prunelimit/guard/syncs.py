"""Host synchronisations counted: what would make the host wait for a CUDA device, on any device.

``with SyncCounter(device) as c: ...`` then ``c.counts`` (kind -> calls) and ``c.total``. Kinds:

* ``read:item``: ``aten._local_scalar_dense`` (``.item()``, ``float(t)``, ``int(t)``,
  ``bool(t)``, ``if t:``, and any composite operator's own ``.item()``);
* ``read:cpu``, ``read:numpy``, ``read:tolist``: those methods of a tensor on the job device
  (on the CPU they do not dispatch, so they are wrapped inside the counter's context), but
  ``.numpy()``/``.tolist()`` of what ``.cpu()`` returned (on a CPU job: the tensor itself);
  ``read:copy``: an ``aten._to_copy``/``copy_`` from a CUDA tensor to the CPU;
* ``sync:<operator>``: operators whose CUDA kernel reads device values on the host
  (:data:`SYNC_OPS`): output sizes that depend on values (``nonzero``, ``masked_select``,
  boolean-mask ``index``/``index_put_``, ``unique`` and its variants, ``repeat_interleave`` of
  a tensor without ``output_size``, ``bincount``, ``histc`` without a range), Python results
  (``equal``), a tensor fill value read on the host (``masked_fill``, ``index_fill``) and
  linalg kernels that check their error codes on the host (``_linalg_eigh``, ``linalg_eig``,
  ``_linalg_svd``, and the ``_ex`` variants with ``check_errors``);
* ``upload:to``, ``upload:tensor``, ``upload:copy``: host-to-device copies without
  ``non_blocking`` (CUDA copies then waits for the stream: ``memcpy_and_sync``): ``.to()``/
  ``.cuda()`` naming the job device, ``torch.tensor``/``torch.as_tensor`` with ``device=`` the job
  device, a dispatched CPU-to-CUDA copy. On a CPU job every tensor is on the job device, so every
  such call counts (an upper bound: on CUDA a tensor already there is not copied), but
  ``.to(other)``, which takes ``other``'s device and dtype (a cast, on one device).

The list of operators is written from PyTorch's CUDA sources, not derived.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from prunelimit.guard.alerts import Bound, bind, op_name


def _tensor(x: object) -> bool:
    return isinstance(x, torch.Tensor)


def _mask_index(f, b: Bound) -> bool:
    return any(_tensor(i) and i.dtype in (torch.bool, torch.uint8) for i in b.get("indices") or ())


def _checked(f, b: Bound) -> bool:
    return bool(b.get("check_errors", True))


# operator (name without trailing underscore) -> whether a call synchronises on CUDA
SYNC_OPS: dict[str, Callable[[torch._ops.OpOverload, Bound], bool]] = {
    **dict.fromkeys(("nonzero", "masked_select", "unique", "_unique", "_unique2", "unique_dim",
                     "unique_consecutive", "unique_dim_consecutive", "bincount", "equal",
                     "_linalg_eigh", "linalg_eig", "_linalg_svd"), lambda f, b: True),
    "index": _mask_index,
    "index_put": _mask_index,
    "repeat_interleave": lambda f, b: _tensor(b.get("repeats")) and b.get("output_size") is None,
    "histc": lambda f, b: b.get("min", 0) == b.get("max", 0),
    "masked_fill": lambda f, b: _tensor(b.get("value")),
    "index_fill": lambda f, b: _tensor(b.get("value")),
    **dict.fromkeys(("linalg_cholesky_ex", "linalg_inv_ex", "_linalg_solve_ex",
                     "linalg_lu_factor_ex"), _checked),
}  # fmt: skip


def _copy_kind(src: torch.Tensor, dst_device: torch.device, non_blocking: bool) -> str | None:
    if non_blocking or src.device.type == dst_device.type:
        return None
    if src.device.type == "cuda" and dst_device.type == "cpu":
        return "read:copy"
    return "upload:copy" if src.device.type == "cpu" and dst_device.type == "cuda" else None


def dispatched_kind(func: torch._ops.OpOverload, args: tuple, kwargs: dict) -> str | None:
    """The kind of synchronisation an operator call is, or None."""
    name = op_name(func)
    if name == "_local_scalar_dense":
        return "read:item"
    if name == "_to_copy" and _tensor(args[0]) and kwargs.get("device") is not None:
        return _copy_kind(
            args[0], torch.device(kwargs["device"]), kwargs.get("non_blocking", False)
        )
    if name == "copy" and len(args) >= 2 and _tensor(args[1]):
        return _copy_kind(args[1], args[0].device, bool(args[2]) if len(args) > 2 else False)
    if name in SYNC_OPS and SYNC_OPS[name](func, bind(func, args, kwargs)):
        return f"sync:{name}"
    return None


class SyncCounter(TorchDispatchMode):
    """Count host synchronisations (module docstring) inside the block, of a job on ``device``
    (default: the CPU)."""

    def __init__(self, device: torch.device | str = "cpu"):
        super().__init__()
        self.device = torch.device(device)
        self.counts: Counter[str] = Counter()
        self._inside = 0  # > 0 in a wrapped method: its own dispatches are not counted again
        self._saved: dict[tuple[object, str], Callable] = {}
        self._host: dict[int, weakref.ref] = {}  # id -> what .cpu() returned, while it lives

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not self._inside and (kind := dispatched_kind(func, args, kwargs)):
            self.counts[kind] += 1
        return func(*args, **kwargs)

    def _on_job_device(self, device: torch.device) -> bool:
        return device.type == self.device.type and (
            device.index is None or self.device.index is None or device.index == self.device.index
        )

    def _wrap(self, owner: object, name: str, kind: Callable[..., str | None]) -> None:
        original = getattr(owner, name)
        self._saved[(owner, name)] = original

        def wrapper(*args, **kwargs):
            if not self._inside and (k := kind(*args, **kwargs)):
                self.counts[k] += 1
            self._inside += 1
            try:
                out = original(*args, **kwargs)
            finally:
                self._inside -= 1
            if name == "cpu":
                self._mark_host(out)
            return out

        setattr(owner, name, wrapper)

    def _mark_host(self, t: torch.Tensor) -> None:
        key = id(t)
        self._host[key] = weakref.ref(t, lambda _: self._host.pop(key, None))

    def _upload(self, t: torch.Tensor | None, device: object, non_blocking: bool) -> bool:
        """Whether moving ``t`` (None: host data) to ``device`` is a blocking upload."""
        if device is None or non_blocking or not self._on_job_device(torch.device(device)):
            return False
        return self.device.type == "cpu" or t is None or t.device.type == "cpu"

    def _to_kind(self, t: torch.Tensor, *args, **kwargs) -> str | None:
        device, _, non_blocking, _ = torch._C._nn._parse_to(*args, **kwargs)
        if args and _tensor(args[0]) and self.device.type == "cpu":
            return None  # .to(other): a cast on one device
        return "upload:to" if self._upload(t, device, non_blocking) else None

    def _factory_kind(self, data: object, *args, device=None, **kwargs) -> str | None:
        t = data if _tensor(data) else None
        return "upload:tensor" if self._upload(t, device, False) else None

    def __enter__(self):
        def read(what: str) -> Callable[..., str | None]:
            def kind(t: torch.Tensor, *a, **k) -> str | None:
                host = what != "cpu" and id(t) in self._host
                return f"read:{what}" if self._on_job_device(t.device) and not host else None

            return kind

        for name in ("cpu", "numpy", "tolist"):
            self._wrap(torch.Tensor, name, read(name))
        self._wrap(torch.Tensor, "to", self._to_kind)
        self._wrap(torch.Tensor, "cuda", lambda t, *a, **k: self._to_kind(t, "cuda"))
        self._wrap(torch, "tensor", self._factory_kind)
        self._wrap(torch, "as_tensor", self._factory_kind)
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            for (owner, name), original in self._saved.items():
                setattr(owner, name, original)
            self._saved.clear()
