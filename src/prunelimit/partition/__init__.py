"""The input-space partition of a ReLU network, shared by the spline and linear-region stages.

- :mod:`~prunelimit.partition.codes`: partition codes (the ReLU sign patterns), packed, their
  distances and the regions a set of inputs meets;
- :mod:`~prunelimit.partition.plane`: the partition on a plane of the input space, on a grid;
- :mod:`~prunelimit.partition.exact`: the same partition enumerated exactly (regions as
  polygons, boundary and decision segments), for ReLU MLPs and small convnets read as affine maps
  (:mod:`~prunelimit.partition.affine`), with convex polygons cut by lines
  (:mod:`~prunelimit.partition.polygons`) and the decision boundary on affine pieces
  (:mod:`~prunelimit.partition.decision`).
"""
