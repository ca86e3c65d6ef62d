"""A CPU rehearsal of a deterministic CUDA run: ``alerts`` (the guard that raises wherever CUDA's
deterministic mode would, from the list ``derive`` reads out of the installed PyTorch) and
``syncs`` (a counter of host synchronisations). Both are ``TorchDispatchMode``s: they see every
aten operator a job runs, its backward pass included."""
