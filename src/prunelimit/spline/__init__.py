"""Spline early-bird tickets (You et al., "Max-Affine Spline Insights into Deep Network Pruning",
TMLR 2022), on the partition codes of :mod:`prunelimit.partition`.

- :mod:`~prunelimit.spline.tickets`: the early-bird rule and the observer that records the
  codes of a training run;
- :mod:`~prunelimit.spline.trajectory`: the partition at every recorded epoch of the watched
  run, and what a watched run writes;
- :mod:`~prunelimit.spline.stage`: the spline stage of an experiment (the limits at the
  early-bird epoch, the partition of the input plane around the limit).
"""
