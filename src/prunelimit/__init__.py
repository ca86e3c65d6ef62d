"""prunelimit: how far a deep network can be pruned, theory against practice.

Conventions used everywhere in the package:

- prunable weights: the ``weight`` tensors of Linear and Conv layers (biases and BatchNorm are
  never pruned); ``D`` is their total number of entries;
- ``rho``: kept ratio ``||m||_0 / D`` (smaller is sparser);
- ``eps``: loss tolerance of the pruning objective ``L(w) <= L(w*) + eps``.
"""

__version__ = "0.1.0"
