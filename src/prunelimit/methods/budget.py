"""The training budget of a compared network, as the methods table states it.

Every row of the comparison carries: ``start`` (what the method starts from), ``epochs`` (the
epochs the evaluated network itself trained, from its start or the rewind point), ``total_epochs``
(every epoch spent to get it: the dense start, earlier iterations, score training) and
``schedule`` (learning rate, schedule, warm-up, weight decay, l1 strength).
"""

from __future__ import annotations

from prunelimit.config.kinds import rescaled
from prunelimit.config.settings import TrainSettings


def schedule_text(s: TrainSettings) -> str:
    """The settings that shape a budget in words, e.g. ``SGD lr 0.1 cosine, 5 warm-up``."""
    text = f"SGD lr {s.lr:g} {s.schedule if s.schedule != 'none' else 'constant'}"
    if s.schedule == "multistep":
        text += f" {list(s.milestones)} x{s.gamma:g}"
    if s.warmup_epochs:
        text += f", {s.warmup_epochs} warm-up"
    if s.weight_decay:
        text += f", wd {s.weight_decay:g}"
    if s.l1:
        text += f", l1 {s.l1:g}"
    return text


def budget_columns(start: str, epochs: int, total_epochs: int, s: TrainSettings) -> dict:
    """The budget columns of a record (module docstring) of a network trained with ``s``."""
    return {
        "start": start,
        "epochs": int(epochs),
        "total_epochs": int(total_epochs),
        "schedule": schedule_text(s),
    }


def iterative_budget(first: TrainSettings, iteration: TrainSettings, t: int) -> dict:
    """The budget of iteration ``t`` of an iterative run: the dense start trained ``first``
    (iteration 0), each later iteration rewinds to the initialisation and retrains
    ``iteration.epochs``."""
    if t == 0:
        return budget_columns("initialisation", first.epochs, first.epochs, first)
    total = first.epochs + t * iteration.epochs
    return budget_columns("initialisation (rewound)", iteration.epochs, total, iteration)


def iterative_budgets(first: TrainSettings, epochs: int, iterations: int) -> list[dict]:
    """:func:`iterative_budget` of iterations ``0..iterations`` of a run whose dense start
    trained ``first`` and whose iterations retrain ``first`` rescaled to ``epochs``."""
    every = rescaled(first, epochs)
    return [iterative_budget(first, every, t) for t in range(iterations + 1)]
