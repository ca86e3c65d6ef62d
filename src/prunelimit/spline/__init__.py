"""Spline early-bird tickets (You et al., "Max-Affine Spline Insights into Deep Network Pruning",
TMLR 2022).

- :mod:`~prunelimit.spline.tickets`: partition codes, their Hamming distances, the early-bird
  rule, the partition of an input plane;
- :mod:`~prunelimit.spline.stage`: the spline stage of an experiment (limits at the early-bird
  epoch, the partition at the limit, region-bound densities).
"""
