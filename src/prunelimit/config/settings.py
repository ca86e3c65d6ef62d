"""Typed settings of every config section: the one source of every default.

The JSON schema (``workflow/schemas/config.schema.yaml``) holds every key's meaning, type and
range, and no defaults: a key is required there exactly when its field here has none (a test
keeps the two equal; ``config/README.md`` takes its defaults from here).
:func:`prunelimit.config.validate.load_settings` validates a config and builds :class:`Settings`
from it, defaults filled in. The workflow passes sections to its scripts as plain dicts
(``as_dict``) and the scripts rebuild them with ``from_dict``; library functions take the typed
sections or plain numbers. Conventions: kept ratios ``rho`` are fractions of ``D``; ``eps`` is
the loss tolerance.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, dataclass, field
from typing import Any, Self


def setting(default: Any = MISSING) -> Any:
    """A dataclass field with its default (none: required); a list or dict default is copied
    for every instance."""
    if isinstance(default, list | dict):
        value = default
        return field(default_factory=lambda: type(value)(value))
    return field(default=default)


class Section:
    """Common behaviour of the settings dataclasses."""

    @classmethod
    def from_dict(cls, d: dict | None) -> Self:
        """Build from a config section; unknown keys are an error (the schema forbids them)."""
        d = dict(d or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keys {unknown}; known: {sorted(names)}")
        return cls(**d)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DataSettings(Section):
    val_fraction: float = setting()
    split_seed: int = setting()


@dataclass(frozen=True)
class DatasetSettings(Section):
    """One dataset of your own (an entry of ``datasets``): a file of tensors or an image folder."""

    file: str | None = setting(None)
    image_folder: str | None = setting(None)
    image_size: list | None = setting(None)
    test_fraction: float = setting(0.2)
    num_classes: int | None = setting(None)
    augmentable: bool = setting(False)


@dataclass(frozen=True)
class HessianSettings(Section):
    engine: str = setting("builtin")
    lanczos_steps: int | str = setting("auto")
    probes: int = setting(4)
    samples: int | None = setting(None)
    batch_size: int | str = setting(1000)
    top_k: int = setting(5)
    seed: int = setting(0)
    lanczos_block: int = setting(40)
    max_lanczos_steps: int = setting(480)
    power_iterations: int = setting(100)
    cache_primal: bool = setting(True)
    memory_gb: float | str = setting(16.0)  # GB, or auto (curvature.memory.resolve_memory_gb)
    basis_memory_gb: float | None = setting(None)
    rows: int = setting(100)

    def spectrum_dict(self) -> dict:
        """The keys a spectrum depends on (all but ``rows``): the spectrum rules' params, so a
        change of ``rows`` reruns no spectrum."""
        return {k: v for k, v in self.as_dict().items() if k != "rows"}

    def rows_dict(self) -> dict:
        """The keys the Hessian rows depend on: the arguments of
        :func:`prunelimit.limit.prediction.hessian_rows_of` (the rule's params)."""
        cache = self.cache_primal and self.engine == "builtin"
        return {
            "count": self.rows,
            "samples": self.samples,
            "sample_seed": self.seed,
            "batch_size": self.batch_size,
            "block": self.probes,
            "memory_gb": self.memory_gb,
            "cache_primal": cache,
        }

    def with_overrides(self, overrides: dict | None) -> HessianSettings:
        """These settings with an experiment's (or the spline stage's) overrides applied."""
        return dataclasses.replace(self, **(overrides or {}))


@dataclass(frozen=True)
class TheorySettings(Section):
    eps: float | str = setting("auto")
    negative: str = setting("abs")
    convergence_tol: float = setting(0.005)
    magnitude_factors: list = setting([2, 3, 4, 5])


@dataclass(frozen=True)
class LimitSettings(Section):
    coarse_points: int = setting(24)
    resolution: float = setting(0.001)
    rho_min: float = setting(0.0005)
    method: str = setting("lomp")  # the registered method whose nested masks the search prunes


@dataclass(frozen=True)
class AblationSettings(Section):
    """Extra global SAP runs: ``[p, q]`` pairs and ``[eta_r, gamma]`` pairs, on ``experiments``
    (None: every SAP experiment)."""

    experiments: list | None = setting(None)
    pq: list = setting([])
    eta_gamma: list = setting([])


@dataclass(frozen=True)
class SapSettings(Section):
    experiments: list = setting()
    methods: list = setting()
    scopes: list = setting()
    p: float = setting()
    q: float = setting()
    eta_r: float = setting()
    gamma: float = setting()
    beta: float = setting()
    iterations: int = setting()
    epochs: int = setting()
    lt_rate: float = setting()
    ablations: AblationSettings = setting(None)  # none given: no ablations

    def __post_init__(self) -> None:
        ablations = self.ablations
        if not isinstance(ablations, AblationSettings):
            object.__setattr__(self, "ablations", AblationSettings.from_dict(ablations))


@dataclass(frozen=True)
class NtkSettings(Section):
    dataset: str = setting()
    input_dim: int = setting()
    depth: int = setting()
    inner_product: float = setting()
    widths: list = setting()
    p: list = setting()
    draws: int = setting()
    real_batch: int = setting()
    real_widths: list = setting()
    tolerance: float = setting()
    seed: int = setting()


@dataclass(frozen=True)
class EarlyBirdSettings(Section):
    """The early-bird keys of the ``spline`` section."""

    grid: int = setting(100)
    margin: float = setting(0.25)
    threshold: float = setting(0.16)
    window: int = setting(3)
    report_thresholds: list = setting([0.1, 0.05, 0.02])
    hessian: dict = setting({})


@dataclass(frozen=True)
class RegionSettings(Section):
    """The linear-region keys of the ``spline`` section."""

    densities: list = setting()
    finetune_epochs: int = setting()


@dataclass(frozen=True)
class NodePruningSettings(Section):
    """The ``spline.pruning`` block: node pruning at the spline early bird (You et al.)."""

    methods: list = setting(["spline", "magnitude", "random", "slimming"])
    scopes: list = setting(["layer", "global"])
    kept: list = setting([0.7, 0.5, 0.3])  # kept node fractions (the paper: 30-70 % pruned)
    retrain_epochs: int | None = setting(None)  # None: the watched run's epochs after the bird


@dataclass(frozen=True)
class SplineSettings(Section):
    """The ``spline`` section (flat): experiments, early bird, regions; block ``pruning``."""

    experiments: list = setting()
    early_bird: EarlyBirdSettings = setting()
    regions: RegionSettings = setting()
    pruning: NodePruningSettings = setting(None)

    def __post_init__(self) -> None:
        if not isinstance(self.pruning, NodePruningSettings):
            object.__setattr__(self, "pruning", NodePruningSettings.from_dict(self.pruning))

    @classmethod
    def from_dict(cls, d: dict | None) -> SplineSettings:
        d = dict(d or {})
        parts = {}
        for name, part in (("early_bird", EarlyBirdSettings), ("regions", RegionSettings)):
            keys = {f.name for f in dataclasses.fields(part)}
            parts[name] = part.from_dict({k: d.pop(k) for k in list(d) if k in keys})
        return cls(experiments=d.pop("experiments", []), **parts, **d)


@dataclass(frozen=True)
class GradualSettings(Section):
    """The ``gradual`` section: the watched run and iterations of the gradual stage."""

    experiments: list | None = setting(None)
    method: str = setting("lt")
    scope: str = setting("global")
    iterations: list | None = setting(None)  # None: the dense start and the last, [0, T]
    hessian: dict = setting({"lanczos_steps": 40, "probes": 2})

    def chosen(self, sap_iterations: int) -> list[int]:
        """The iterations analysed, sorted: as given, or the dense start and the last."""
        return sorted(set(self.iterations if self.iterations is not None else [0, sap_iterations]))


@dataclass(frozen=True)
class RegularisationSettings(Section):
    """The ``regularisation`` section: the seeds of the l2 runs and their kinds' limits, and
    the overrides of the dense and l2 networks' spectra."""

    seeds: list | None = setting(None)
    hessian: dict = setting({})


@dataclass(frozen=True)
class SmartRatioSettings(Section):
    """Smart-Ratio's own settings (``compare.smart_ratio``)."""

    last_keep: float = setting(0.3)  # the kept fraction of the final linear layer


@dataclass(frozen=True)
class RareGemsConfig(Section):
    """Rare Gems' own settings (``compare.rare_gems``); the epochs come from the budget."""

    score_fraction: float = setting(0.5)  # of the budget's epochs spent training the scores
    score_lr: float = setting(0.1)  # SGD on the scores, cosine
    l2: float = setting(1.0e-4)  # penalty on the scores
    rounds: int = setting(10)  # pruning rounds over the score training
    finetune_lr: float = setting(0.01)  # SGD on the surviving weights, cosine


@dataclass(frozen=True)
class CompareSettings(Section):
    """The ``compare`` section: the methods beside ``sap.methods`` compared on the SAP
    experiments, the levels and the training budget."""

    methods: list = setting(["lomp"])
    levels: list = setting([50, 20, 10])
    budget: str = setting("matched")
    smart_ratio: SmartRatioSettings = setting(None)
    rare_gems: RareGemsConfig = setting(None)

    def __post_init__(self) -> None:
        for key, cls in (("smart_ratio", SmartRatioSettings), ("rare_gems", RareGemsConfig)):
            if not isinstance(getattr(self, key), cls):
                object.__setattr__(self, key, cls.from_dict(getattr(self, key)))


SCHEDULES = ("none", "cosine", "multistep")


@dataclass(frozen=True)
class TrainSettings(Section):
    """Hyperparameters of one training run (an experiment's ``train`` block, with a kind's
    overrides: :func:`prunelimit.config.kinds.train_settings`)."""

    epochs: int = setting()
    batch_size: int = setting(128)
    lr: float = setting(0.01)
    momentum: float = setting(0.9)
    weight_decay: float = setting(0.0)
    l1: float = setting(0.0)
    schedule: str = setting("none")
    milestones: tuple[int, ...] = setting(())
    gamma: float = setting(0.5)
    warmup_epochs: int = setting(0)
    augment: bool = setting(False)
    precision: str = setting("fp32")  # of the SGD steps: runtime.training_precision
    plateau_window: int = setting(10)
    plateau_rtol: float = setting(0.02)
    plateau_atol: float = setting(1e-3)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        object.__setattr__(self, "milestones", tuple(self.milestones))


@dataclass(frozen=True)
class ExperimentSettings(Section):
    name: str = setting()
    dataset: str = setting()
    model: str = setting()
    model_args: dict = setting({})
    train: dict | None = setting(None)
    l1_train: dict = setting({})
    l2_train: dict = setting({})
    hessian: dict = setting({})
    weights: str | None = setting(None)
    dense_weights: str | None = setting(None)

    @property
    def imported(self) -> bool:
        """Weights trained elsewhere (``weights``), not trained here."""
        return self.weights is not None

    def identity(self) -> dict:
        """What names the network: experiment, dataset, model and its arguments."""
        return {k: getattr(self, k) for k in ("name", "dataset", "model", "model_args")}


@dataclass(frozen=True)
class Settings(Section):
    seeds: list = setting()
    data: DataSettings = setting()
    experiments: list = setting()
    hessian: HessianSettings = setting()
    theory: TheorySettings = setting()
    limit: LimitSettings = setting()
    ntk: NtkSettings = setting()
    sap: SapSettings = setting()
    spline: SplineSettings = setting()
    gradual: GradualSettings | None = setting(None)  # absent: the defaults
    regularisation: RegularisationSettings | None = setting(None)  # absent: the defaults
    compare: CompareSettings | None = setting(None)  # absent: the defaults
    device: str = setting("auto")
    threads_per_job: int = setting(1)
    datasets: dict = setting({})  # name -> DatasetSettings

    @classmethod
    def from_dict(cls, d: dict) -> Settings:
        values = {k: SECTIONS[k].from_dict(v) if k in SECTIONS else v for k, v in d.items()}
        values["experiments"] = [ExperimentSettings.from_dict(e) for e in d["experiments"]]
        own = d.get("datasets") or {}
        values["datasets"] = {n: DatasetSettings.from_dict(s) for n, s in own.items()}
        values.setdefault("gradual", GradualSettings())
        values.setdefault("regularisation", RegularisationSettings())
        values.setdefault("compare", CompareSettings())
        return cls(**values)

    def experiment(self, name: str) -> ExperimentSettings:
        return next(e for e in self.experiments if e.name == name)

    def hessian_for(self, name: str) -> HessianSettings:
        """The hessian section with the experiment's overrides."""
        return self.hessian.with_overrides(self.experiment(name).hessian)

    def hessian_of_kind(self, name: str, kind: str) -> HessianSettings:
        """The hessian settings of an experiment's ``kind``: :meth:`hessian_for`, and for the
        dense and l2 networks the ``regularisation.hessian`` overrides on top."""
        h = self.hessian_for(name)
        return h if kind == "l1" else h.with_overrides(self.regularisation.hessian)


SECTIONS: dict[str, type[Section]] = {
    "data": DataSettings,
    "hessian": HessianSettings,
    "theory": TheorySettings,
    "limit": LimitSettings,
    "ntk": NtkSettings,
    "sap": SapSettings,
    "spline": SplineSettings,
    "gradual": GradualSettings,
    "regularisation": RegularisationSettings,
    "compare": CompareSettings,
}


def gpus_per_job(device: str) -> int:
    """GPUs a GPU-capable rule asks the scheduler for: 0 for ``cpu``, 1 for ``cuda``/``cuda:N``;
    for ``auto``, 1 only when this machine shows an NVIDIA GPU (so a CPU-only laptop runs
    several training jobs at once). On a cluster, say ``cuda``: the head node may have none."""
    if device == "cpu":
        return 0
    if device.startswith("cuda"):
        return 1
    import os
    import shutil

    return int(os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi") is not None)
