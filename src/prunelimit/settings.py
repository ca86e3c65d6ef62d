"""Typed settings of every config section, with their defaults and a one-line meaning each.

This is the one place where config defaults live. The JSON schema
(``workflow/schemas/config.schema.yaml``) checks types and ranges and names the same keys (a test
keeps the two in step); :func:`load_settings` validates a config in one pass
(:func:`prunelimit.config.check_config`) and builds :class:`Settings` from it. The workflow
passes sections to its scripts as plain dicts (``as_dict``) and the scripts rebuild them with
``from_dict``; library functions take the typed sections or plain numbers.
Conventions: kept ratios ``rho`` are fractions of ``D``; ``eps`` is the loss tolerance.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, Self

from prunelimit.config import check_config, load_schema


def setting(default: Any = MISSING, help: str = "") -> Any:
    """A dataclass field with its default (none: required) and its one-line meaning."""
    if isinstance(default, list | dict):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata={"help": help})
    return field(default=default, metadata={"help": help})


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
    val_fraction: float = setting(help="held out of the training split (judges accuracy limits)")
    split_seed: int = setting(help="seed of the train/validation split")


@dataclass(frozen=True)
class HessianSettings(Section):
    engine: str = setting(help="builtin (torch.func SLQ) or pyhessian")
    lanczos_steps: int | str = setting(help="Lanczos steps m, or auto (until rho_th converges)")
    probes: int = setting(help="Rademacher probes n_v")
    samples: int | None = setting(help="training samples in the Hessian; None = all")
    batch_size: int | str = setting(help="samples per Hessian-product chunk, or auto (memory_gb)")
    top_k: int = setting(help="top eigenvalues (builtin: largest Ritz values; else power iter.)")
    seed: int = setting(help="seed of the probes and the sample subset")
    lanczos_block: int = setting(40, "auto: steps per block (checked from the second block)")
    max_lanczos_steps: int = setting(480, "auto: stop here even if not converged")
    power_iterations: int = setting(100, "power iterations per top eigenvalue")
    cache_primal: bool = setting(True, "builtin: trace each chunk's forward/backward once")
    memory_gb: float = setting(16.0, "batch_size auto: GB (1e9 B) of device memory for it all")
    basis_memory_gb: float | None = setting(None, "GB of Lanczos basis on the device; None: all")

    def with_overrides(self, overrides: dict | None) -> HessianSettings:
        """These settings with an experiment's (or the spline stage's) overrides applied."""
        return dataclasses.replace(self, **(overrides or {}))


@dataclass(frozen=True)
class TheorySettings(Section):
    eps: float | str = setting(help="loss tolerance, or auto (std of mini-batch losses at w*)")
    negative: str = setting(help="negative Ritz values: abs or clip")
    convergence_tol: float = setting(0.005, "converged: |rho_th(m) - rho_th(m/2)| <= this")


@dataclass(frozen=True)
class LimitSettings(Section):
    coarse_points: int = setting(help="log-spaced kept ratios of the coarse scan")
    resolution: float = setting(help="final resolution of the actual limit (fraction of D)")
    rho_min: float = setting(0.0005, "smallest kept ratio searched")


@dataclass(frozen=True)
class SapSettings(Section):
    experiments: list = setting(help="experiments pruned iteratively")
    methods: list = setting(help="registered pruning strategies (prunelimit.strategies)")
    scopes: list = setting(help="global, layer, neuron")
    p: float = setting(help="PQ Index p (< q)")
    q: float = setting(help="PQ Index q")
    eta_r: float = setting(help="SAP eta_r")
    gamma: float = setting(help="SAP gamma")
    beta: float = setting(help="at most this fraction of a group pruned per iteration")
    iterations: int = setting(help="T pruning iterations")
    epochs: int = setting(help="E training epochs per iteration")
    lt_rate: float = setting(help="LT removes this fraction per iteration; OS keeps (1-r)^t")
    levels: list = setting(help="percent remaining compared in the SAP table")


@dataclass(frozen=True)
class NtkSettings(Section):
    dataset: str = setting(help="dataset whose test inputs feed the Gram comparison")
    input_dim: int = setting(help="input dimension of the two-unit-input setup")
    depth: int = setting(help="hidden layers L")
    inner_product: float = setting(help="inner product of the two unit inputs")
    widths: list = setting(help="widths of the two-input sweep")
    p: list = setting(help="pruning probabilities (keep 1 - p)")
    draws: int = setting(help="random draws per width and p")
    real_batch: int = setting(help="test inputs in the Gram comparison")
    real_widths: list = setting(help="widths of the Gram comparison")
    tolerance: float = setting(help="mean |Theta_hat - Theta_inf| defining the width needed")
    seed: int = setting(help="seed of the draws")


@dataclass(frozen=True)
class EarlyBirdSettings(Section):
    """The early-bird keys of the ``spline`` section."""

    grid: int = setting(100, "grid x grid inputs on the plane through three test samples")
    margin: float = setting(0.25, "grid coefficients span [-margin, 1 + margin]")
    threshold: float = setting(0.16, "early bird: max distance to the last window below this")
    window: int = setting(3, "previous epochs compared by the early-bird rule")
    report_thresholds: list = setting([0.1, 0.05, 0.02], "extra thresholds reported")
    hessian: dict = setting({}, "overrides of the hessian section for the spline spectra")


@dataclass(frozen=True)
class RegionSettings(Section):
    """The linear-region keys of the ``spline`` section."""

    densities: list = setting(help="global densities of the hidden weights (region bound)")
    finetune_epochs: int = setting(help="masked fine-tuning epochs after pruning (0 = none)")


@dataclass(frozen=True)
class SplineSettings(Section):
    """The ``spline`` section (flat in the config): experiments, early bird, regions."""

    experiments: list = setting(help="experiments watched for early-bird tickets")
    early_bird: EarlyBirdSettings = setting(help="early-bird detection")
    regions: RegionSettings = setting(help="region-bound layer densities")

    @classmethod
    def from_dict(cls, d: dict | None) -> SplineSettings:
        d = dict(d or {})
        parts = {}
        for name, part in (("early_bird", EarlyBirdSettings), ("regions", RegionSettings)):
            keys = {f.name for f in dataclasses.fields(part)}
            parts[name] = part.from_dict({k: d.pop(k) for k in list(d) if k in keys})
        return cls(experiments=d.pop("experiments", []), **parts, **d)


@dataclass(frozen=True)
class ExperimentSettings(Section):
    name: str = setting(help="unique name; results/<name>/")
    dataset: str = setting(help="a registered dataset")
    model: str = setting(help="a registered model")
    model_args: dict = setting({}, "model arguments (mlp: widths)")
    train: dict | None = setting(None, "the training block (prunelimit.training.TrainSettings)")
    l1_train: dict = setting({}, "overrides of train for the l1 run only")
    hessian: dict = setting({}, "overrides of the hessian section")
    weights: str | None = setting(None, "a state dict trained elsewhere, imported")
    dense_weights: str | None = setting(None, "with weights: a dense state dict to compare")


@dataclass(frozen=True)
class Settings(Section):
    seeds: list = setting(help="seeds of every trained experiment")
    data: DataSettings = setting(help="the train/validation split")
    experiments: list = setting(help="ExperimentSettings, one per experiment")
    hessian: HessianSettings = setting(help="the Hessian spectrum")
    theory: TheorySettings = setting(help="the theoretical limit")
    limit: LimitSettings = setting(help="the actual-limit search")
    ntk: NtkSettings = setting(help="the NTK stage")
    sap: SapSettings = setting(help="the SAP stage")
    spline: SplineSettings = setting(help="the spline stage")
    device: str = setting("auto", "torch device of every rule; auto = cuda when available")
    threads_per_job: int = setting(1, "CPU threads per job")

    @classmethod
    def from_dict(cls, d: dict) -> Settings:
        values = {k: SECTIONS[k].from_dict(v) if k in SECTIONS else v for k, v in d.items()}
        values["experiments"] = [ExperimentSettings.from_dict(e) for e in d["experiments"]]
        return cls(**values)

    def experiment(self, name: str) -> ExperimentSettings:
        return next(e for e in self.experiments if e.name == name)

    def hessian_for(self, name: str) -> HessianSettings:
        """The hessian section with the experiment's overrides."""
        return self.hessian.with_overrides(self.experiment(name).hessian)


SECTIONS: dict[str, type[Section]] = {
    "data": DataSettings,
    "hessian": HessianSettings,
    "theory": TheorySettings,
    "limit": LimitSettings,
    "ntk": NtkSettings,
    "sap": SapSettings,
    "spline": SplineSettings,
}


def load_settings(config: dict, schema: str | Path | dict) -> Settings:
    """Validate ``config`` in one pass (schema and cross-checks, errors naming the key) and
    build its typed settings, defaults filled in."""
    check_config(config, schema if isinstance(schema, dict) else load_schema(schema))
    return Settings.from_dict(config)
