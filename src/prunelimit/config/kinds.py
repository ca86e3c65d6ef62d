"""The kinds of network an experiment trains, and the training settings of each.

``dense`` is the experiment's ``train`` block with ``l1 = 0``; ``l1`` is ``train`` updated by the
optional ``l1_train`` block; ``l2`` is ``train`` with ``l1 = 0`` updated by the ``l2_train``
block (weight decay, no l1). The kinds are named here and nowhere else.
"""

from __future__ import annotations

from dataclasses import replace

from prunelimit.config.settings import ExperimentSettings, TrainSettings

KINDS = ("dense", "l1", "l2")  # the trainings of an experiment
OTHER_KINDS = ("dense", "l2")  # beside l1, whose limits the role of regularisation compares
# the block of overrides of `train` of each kind that has one
OVERRIDE_BLOCKS = {"l1": "l1_train", "l2": "l2_train"}
# the training budgets of the pruning methods' dense start (``compare.budget``)
BUDGETS = ("matched", "iteration")
# the key of the weights file of each kind an experiment can import (trained elsewhere)
WEIGHTS_KEYS = {"l1": "weights", "dense": "dense_weights"}


def trained_kinds(exp: ExperimentSettings) -> list[str]:
    """The kinds trained for an experiment: ``dense`` and ``l1``, and ``l2`` when it has an
    ``l2_train`` block."""
    return ["dense", "l1"] + (["l2"] if exp.l2_train else [])


def predicted_kinds(exp: ExperimentSettings) -> list[str]:
    """The kinds whose limit is predicted (spectrum, theory) and searched: ``l1``; with an
    ``l2_train`` block (the role of regularisation) ``dense`` and ``l2`` too."""
    return ["l1", *OTHER_KINDS] if exp.l2_train else ["l1"]


def train_settings(exp: ExperimentSettings, kind: str) -> TrainSettings:
    """Training settings of ``kind`` (module docstring): the l1 run is chosen by the regime rule
    and has its own block, the dense run need not change; the l2 run needs
    ``l2_train.weight_decay`` > 0. An experiment of imported ``weights`` without ``train``:
    no epochs and the defaults of :class:`TrainSettings` (its batch size for ``eps: auto``; l1
    strength 0, so the objective criterion equals the loss one)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    train = dict(exp.train or {"epochs": 0})
    if kind == "l1":
        train.update(exp.l1_train)
    else:
        train["l1"] = 0.0
    if kind == "l2":
        if not exp.l2_train.get("weight_decay"):
            raise ValueError(
                f"experiment {exp.name!r}: the l2 run needs `l2_train.weight_decay` > 0"
            )
        train.update(exp.l2_train)
    return TrainSettings.from_dict(train)


def rescaled(train: TrainSettings, epochs: int) -> TrainSettings:
    """``train`` for ``epochs`` epochs with ``l1 = 0``: milestones and warm-up rescaled by
    ``epochs / train.epochs`` (a pruning iteration's retraining)."""
    scale = epochs / train.epochs
    return replace(
        train,
        epochs=int(epochs),
        l1=0.0,
        milestones=tuple(max(1, round(m * scale)) for m in train.milestones),
        warmup_epochs=min(int(round(train.warmup_epochs * scale)), max(0, epochs - 1)),
    )


def start_settings(exp: ExperimentSettings, budget: str, epochs: int) -> TrainSettings:
    """How the pruning methods' dense start trains, and the methods trained from the
    initialisation: with ``budget`` ``matched`` as the l1 run (its epochs, schedule and weight
    decay) with ``l1 = 0``, the budget of LOMP's network; with ``iteration`` the dense run's
    settings for ``epochs`` (``sap.epochs``: Diao et al.'s iteration 0 trains as every
    iteration). A pruning iteration retrains :func:`rescaled` of this to ``sap.epochs``."""
    if budget not in BUDGETS:
        raise ValueError(f"compare.budget must be one of {BUDGETS}, got {budget!r}")
    if budget == "matched":
        return replace(train_settings(exp, "l1"), l1=0.0)
    return rescaled(train_settings(exp, "dense"), epochs)
