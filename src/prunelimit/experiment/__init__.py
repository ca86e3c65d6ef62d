"""An experiment run for one seed, from training to its limits: the glue between the config's
experiment dicts and the library, so that the workflow scripts stay free of science.

- :mod:`~prunelimit.experiment.runs`: train, import and reload the dense, l1 and l2 networks;
- :mod:`~prunelimit.experiment.prediction`: spectrum, Hessian rows, ``eps`` and the theoretical
  limit;
- :mod:`~prunelimit.experiment.actual`: the pruning curve and the actual limits.
"""

from prunelimit.experiment.actual import CRITERIA, actual_limit_of, limits_of, pruning_curve
from prunelimit.experiment.prediction import (
    hessian_rows_of,
    loss_tolerance,
    spectrum_of,
    theory_of,
    training_tensors,
)
from prunelimit.experiment.runs import (
    KINDS,
    import_experiment,
    load_run_file,
    load_trained,
    metrics_header,
    new_model,
    predicted_kinds,
    regime_of,
    settings_for,
    train_experiment,
    trained_kinds,
)

__all__ = [
    "CRITERIA",
    "KINDS",
    "actual_limit_of",
    "hessian_rows_of",
    "import_experiment",
    "limits_of",
    "load_run_file",
    "load_trained",
    "loss_tolerance",
    "metrics_header",
    "new_model",
    "predicted_kinds",
    "pruning_curve",
    "regime_of",
    "settings_for",
    "spectrum_of",
    "theory_of",
    "train_experiment",
    "trained_kinds",
    "training_tensors",
]
