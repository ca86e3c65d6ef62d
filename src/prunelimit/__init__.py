"""prunelimit: how far a deep network can be pruned, theory against practice.

Conventions used everywhere in the package:

- prunable weights: the ``weight`` tensors of Linear and Conv layers (biases and BatchNorm are
  never pruned); ``D`` is their total number of entries;
- ``rho``: kept ratio ``||m||_0 / D`` (smaller is sparser);
- ``eps``: loss tolerance of the pruning objective ``L(w) <= L(w*) + eps``.
"""

__version__ = "0.1.0"

_API = ("predict_limit", "actual_limit", "hessian_rows", "as_splits")
__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    """``prunelimit.predict_limit`` and friends (:mod:`prunelimit.api`), imported on first use
    so that ``import prunelimit`` stays free of torch."""
    if name in _API:
        from prunelimit import api

        return getattr(api, name)
    raise AttributeError(f"module 'prunelimit' has no attribute {name!r}")
