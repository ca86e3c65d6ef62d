"""Spline early-bird tickets (You et al., "Max-Affine Spline Insights into Deep Network Pruning",
TMLR 2022), on the partition codes of :mod:`prunelimit.partition`.

- :mod:`~prunelimit.spline.tickets`: the early-bird rule and the observer that records the
  codes of a training run;
- :mod:`~prunelimit.spline.trajectory`: the partition at every recorded epoch of the watched
  run, and what a watched run writes;
- :mod:`~prunelimit.spline.stage`: the spline stage of an experiment (the limits at the
  early-bird epoch);
- :mod:`~prunelimit.spline.partition`: the partition of the input plane (exact and on a grid)
  as weights or nodes are pruned;
- :mod:`~prunelimit.spline.nodes` and :mod:`~prunelimit.spline.pruning`: node pruning (node
  layers, node masks, the pruned architecture's FLOPs; the spline criterion and the node
  baselines), run at the early bird by :mod:`prunelimit.methods.early_bird`.
"""
