"""The pruning methods: one registry, each entry how it chooses masks and how it trains.

As open_lth's ``pruning/registry.py``: a method is registered once, by name, with what the
comparison and the actual-limit search need of it. ``schedule`` says which driver runs it:

- ``iterative``: prune, rewind to the initialisation, retrain, ``T`` times, in every scope
  (:mod:`prunelimit.sap.iterative`; its mask rule is a registered
  :class:`~prunelimit.sap.strategies.Strategy` of the same name): ``sap``, ``lt``, ``os``;
- ``one-shot``: the trained l1 network pruned once, no retraining
  (:mod:`prunelimit.limit.lomp`): ``lomp``;
- ``at-init``: masks chosen at the initialisation, then trained from it
  (:mod:`prunelimit.methods.at_init`): ``smart_ratio``, ``rare_gems``, ``random``.

``path(seed)`` (where the masks of one network are nested in the kept count) prunes a trained
network one-shot along every kept count: the actual-limit search takes it
(``limit.method``). ``at_init`` makes an at-init method's masks and its training settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from prunelimit.config.kinds import rescaled
from prunelimit.config.settings import RareGemsConfig, SmartRatioSettings, TrainSettings

if TYPE_CHECKING:  # torch is imported when a method runs, not when the workflow is parsed
    from torch import nn

    from prunelimit.data import DatasetSplits
    from prunelimit.pruning import Masks, PathOf

SCHEDULES = ("iterative", "one-shot", "at-init")


@dataclass(frozen=True)
class InitContext:
    """What an at-init method may know: the data, the seed, the training budget (the settings
    a network from the initialisation trains with), the method's own config block and the
    model's name."""

    data: DatasetSplits
    seed: int
    budget: TrainSettings
    settings: dict
    model: str = ""


MasksAtInit = Callable[["nn.Module", int, InitContext], "Masks"]


@dataclass(frozen=True)
class AtInit:
    """An at-init method: ``masks(model, keep, context)`` (the model at its initialisation,
    whose parameters it must leave as they are) and ``training(context)``: the settings the
    masked network then trains with (by default the whole budget)."""

    masks: MasksAtInit
    training: Callable[[InitContext], TrainSettings] = lambda ctx: replace(ctx.budget, l1=0.0)


@dataclass(frozen=True)
class Method:
    """A registered pruning method (module docstring)."""

    name: str
    title: str  # as tables and figures name it
    schedule: str  # one of SCHEDULES
    training: str  # how it trains, in words (docs, tables)
    paper: str
    path: Callable[[int], PathOf] | None = None  # seed -> nested masks of a trained network
    at_init: AtInit | None = None

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"method {self.name!r}: schedule must be one of {SCHEDULES}")
        if (self.schedule == "at-init") != (self.at_init is not None):
            raise ValueError(f"method {self.name!r}: an at-init method needs `at_init`, no other")


METHODS: dict[str, Method] = {}


T = TypeVar("T")


def add_entry(table: dict[str, T], name: str, entry: T, kind: str) -> T:
    """Put ``entry`` in a registry ``table`` under ``name``; a second entry of that name is an
    error (``kind`` names the registry in it)."""
    if name in table:
        raise ValueError(f"a {kind} named {name!r} is already registered")
    table[name] = entry
    return entry


def get_entry(table: dict[str, T], name: str, kind: str) -> T:
    """The entry ``name`` of a registry ``table``; the error lists the registered names."""
    if name not in table:
        raise ValueError(f"{kind} must be one of {sorted(table)}, got {name!r}")
    return table[name]


def register(method: Method) -> Method:
    """Make ``method`` available under its name (an iterative one runs the
    :class:`~prunelimit.sap.strategies.Strategy` registered under the same name)."""
    return add_entry(METHODS, method.name, method, "pruning method")


def get_method(name: str) -> Method:
    """The registered method ``name``; the error lists the registered names."""
    return get_entry(METHODS, name, "pruning method")


def names(schedule: str | None = None, nested: bool = False) -> list[str]:
    """Registered names, of one ``schedule`` and/or with nested masks (``path``) only."""
    return [
        n
        for n, m in METHODS.items()
        if (schedule is None or m.schedule == schedule) and (not nested or m.path is not None)
    ]


# --------------------------------------------------------------------------- the entries


def _weights(model: nn.Module) -> dict:
    from prunelimit.pruning import prunable_weights

    return {n: w.detach() for n, w in prunable_weights(model).items()}


def _magnitude(seed: int) -> PathOf:
    from prunelimit.pruning import magnitude_path

    return magnitude_path


def _smart_ratio(seed: int, last_keep: float = 0.3, vgg: bool = False) -> PathOf:
    from prunelimit.methods.smart_ratio import smart_ratio_path

    return smart_ratio_path(seed, last_keep, vgg)


def _random(seed: int) -> PathOf:
    from prunelimit.methods.smart_ratio import random_path

    return random_path(seed)


def _smart_ratio_masks(model: nn.Module, keep: int, ctx: InitContext) -> Masks:
    s = SmartRatioSettings.from_dict(ctx.settings)
    vgg = ctx.model.startswith("vgg")  # the public code divides by l^2 for VGG
    return _smart_ratio(ctx.seed, s.last_keep, vgg)(_weights(model), None)(keep)


def _random_masks(model: nn.Module, keep: int, ctx: InitContext) -> Masks:
    return _random(ctx.seed)(_weights(model), None)(keep)


def _score_epochs(ctx: InitContext) -> int:
    s = RareGemsConfig.from_dict(ctx.settings)
    return max(1, min(ctx.budget.epochs - 1, round(s.score_fraction * ctx.budget.epochs)))


def _rare_gems_masks(model: nn.Module, keep: int, ctx: InitContext) -> Masks:
    from prunelimit.methods.rare_gems import RareGemsSettings, rare_gems_masks

    s, epochs = RareGemsConfig.from_dict(ctx.settings), _score_epochs(ctx)
    scores = RareGemsSettings(
        epochs=epochs,
        batch_size=ctx.budget.batch_size,
        lr=s.score_lr,
        momentum=ctx.budget.momentum,
        l2=s.l2,
        prune_every=max(1, epochs // s.rounds),
        augment=ctx.budget.augment,
    )
    return rare_gems_masks(model, ctx.data, keep, scores, ctx.seed)[0]


def _rare_gems_training(ctx: InitContext) -> TrainSettings:
    """Fine-tuning: the rest of the budget's epochs, at ``finetune_lr`` (cosine)."""
    s = RareGemsConfig.from_dict(ctx.settings)
    tune = rescaled(ctx.budget, ctx.budget.epochs - _score_epochs(ctx))
    return replace(tune, lr=s.finetune_lr, schedule="cosine")


_DIAO = "Diao et al., ICLR 2023"
register(Method("sap", "SAP", "iterative", "rewind, retrain E epochs per iteration", _DIAO))
register(Method("lt", "Lottery Ticket", "iterative", "rewind, retrain E epochs", _DIAO))
register(Method("os", "One Shot", "iterative", "rewind, retrain E epochs", _DIAO))
register(
    Method(
        "lomp",
        "LOMP",
        "one-shot",
        "l1 training, global magnitude, no retraining",
        "Zhang et al., NeurIPS 2024",
        path=_magnitude,
    )
)
register(
    Method(
        "smart_ratio",
        "Smart-Ratio",
        "at-init",
        "layer ratios by depth, random masks, trained from the initialisation",
        "Su et al., NeurIPS 2020",
        path=_smart_ratio,
        at_init=AtInit(_smart_ratio_masks),
    )
)
register(
    Method(
        "rare_gems",
        "Rare Gems",
        "at-init",
        "scores on frozen initial weights (L2), pruned on a schedule, then fine-tuned",
        "Sreenivasan et al., NeurIPS 2022",
        at_init=AtInit(_rare_gems_masks, _rare_gems_training),
    )
)
register(
    Method(
        "random",
        "Random",
        "at-init",
        "the same ratio in every layer, random masks, trained from the initialisation",
        "baseline",
        path=_random,
        at_init=AtInit(_random_masks),
    )
)
