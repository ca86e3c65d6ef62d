"""The input-space partition of a ReLU network, shared by the spline and linear-region stages.

- :mod:`~prunelimit.partition.codes`: partition codes (the ReLU sign patterns), packed, their
  distances and the regions a set of inputs meets;
- :mod:`~prunelimit.partition.plane`: the partition on a plane of the input space, on a grid.
"""
