"""Training, the one place a network is trained, and what is known of a trained network.

- :mod:`~prunelimit.training.loop`: dense and l1-regularised SGD, resumable, masks held;
  evaluation and the gradient at ``w*``;
- :mod:`~prunelimit.training.convergence`: verdicts on a training history (plateau,
  divergence);
- :mod:`~prunelimit.training.imported`: weights trained elsewhere, checked against a model,
  and their provenance.
"""
