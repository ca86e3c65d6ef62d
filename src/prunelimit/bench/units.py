"""The unit model of the workflow's jobs: what one job of each rule consists of, in primitives
that :mod:`prunelimit.bench.gpu` times on the device.

Primitives (seconds each, per experiment; :data:`PRIMITIVES`): a training ``step`` (the
library's ``fit``: l1, masks held, augmentation, at the experiment's batch), an evaluation pass
per sample (``eval_sample``, batches of 1024), a pruning-curve ``point`` (the magnitude masks and
one evaluation of every split at one kept ratio), a Hessian-vector product of all probes over one
``auto`` chunk (``hvp``), an SAP pruning step in each scope (``prune:<scope>``) and, for the NTK
sweep, one draw at each width (``ntk_sweep:<width>``, ``ntk_gram:<width>``).

:data:`UNITS` maps a rule to a function ``(settings, wildcards, sizes) -> counts`` (primitive ->
how many, read from the settings the job gets) and its model in words; :data:`NEGLIGIBLE` names
the rules that hold no GPU (figures and tables on the login node, CPU jobs), with the reason.
A rule of the DAG in neither is printed as "not modelled" (tests/test_bench_gpu.py fails on it).
Counts are upper bounds where the work depends on results (curve points, early-bird epochs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from prunelimit.config.kinds import predicted_kinds, start_settings, train_settings, trained_kinds
from prunelimit.config.settings import HessianSettings, Settings
from prunelimit.limit.search import coarse_grid
from prunelimit.methods.early_bird import node_plan
from prunelimit.methods.registry import get_method
from prunelimit.models.registry import MODELS
from prunelimit.regions.bound import ALLOCATIONS, REGION_MODELS

Counts = dict[str, float]  # primitive -> how many times a job does it
PRIMITIVES = {
    "step": "s per training step at the experiment's batch (fit: l1, masks held, augmentation)",
    "eval_sample": "s per sample of an evaluation pass (batches of 1024, no gradients)",
    "point": "s per pruning-curve point: magnitude masks, train + validation + test evaluated",
    "hvp": "s per Hessian-vector product of all probes over one auto chunk",
    "prune:<scope>": "s per SAP pruning step in that scope (masks, the record's PQIs)",
    "ntk_sweep:<width>": "s per draw of the two-input sweep at that width (every p, both scalings)",
    "ntk_gram:<width>": "s per draw of the real-input Gram matrices at that width",
}


@dataclass(frozen=True)
class Sizes:
    """What the counts of an experiment's jobs depend on beyond the settings: split sizes
    (samples), the training batch the step was timed at, the Hessian chunk and probes of the
    timed product, and whether every node layer has BatchNorm (network slimming)."""

    train: int
    val: int
    test: int
    batch: int
    chunk: int
    probes: int
    batchnorm: bool = False

    @property
    def all(self) -> int:
        return self.train + self.val + self.test

    def steps(self, epochs: float) -> float:
        """Training steps of ``epochs`` epochs over the training split."""
        return epochs * math.ceil(self.train / self.batch)

    def products(self, h: HessianSettings, samples: int | None, vectors: int) -> float:
        """``hvp`` units of one product of ``vectors`` vectors over ``samples`` (None: the
        Hessian samples of ``h``): chunks x vectors / probes timed (linear in the vectors)."""
        n = min(h.samples or self.train, self.train) if samples is None else samples
        return math.ceil(n / self.chunk) * vectors / self.probes


def _add(*parts: Counts) -> Counts:
    out: Counts = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, 0.0) + v
    return out


def _times(n: float, c: Counts) -> Counts:
    return {k: n * v for k, v in c.items()}


def lanczos_steps(h: HessianSettings) -> int:
    """Lanczos steps of a spectrum (``auto``: its maximum, an upper bound)."""
    return h.lanczos_steps if isinstance(h.lanczos_steps, int) else h.max_lanczos_steps


def curve_points(s: Settings) -> int:
    """At most the points of a pruning curve: the coarse scan, then a bisection of the widest
    bracket for each of the three criteria (limit.search)."""
    coarse = coarse_grid(s.limit.coarse_points, s.limit.resolution, s.limit.rho_min)
    widest = max(b - a for a, b in zip(coarse, coarse[1:], strict=False)) if len(coarse) > 1 else 1
    return len(coarse) + 3 * math.ceil(math.log2(max(widest, 2)))


def spectrum(h: HessianSettings, s: Settings, z: Sizes) -> Counts:
    """Lanczos steps x chunks of products of all probes (+ an eps pass for ``auto`` steps)."""
    eps = {"eval_sample": z.train} if h.lanczos_steps == "auto" else {}
    return _add({"hvp": lanczos_steps(h) * z.products(h, None, h.probes)}, eps)


def theory(s: Settings, z: Sizes) -> Counts:
    """The training loss pass, and the mini-batch losses of ``eps: auto``."""
    return {"eval_sample": z.train * (2 if s.theory.eps == "auto" else 1)}


def curve(s: Settings, z: Sizes) -> Counts:
    """The unpruned network (train, validation) and the curve's points."""
    return {"eval_sample": z.train + z.val, "point": curve_points(s)}


def limits(h: HessianSettings, s: Settings, z: Sizes) -> Counts:
    """``limits_of``: spectrum, theory, curve, test accuracy (gradual, spline_eb)."""
    return _add(spectrum(h, s, z), theory(s, z), curve(s, z), {"eval_sample": z.test})


def _train(s: Settings, w: dict, z: Sizes) -> Counts:
    t = train_settings(s.experiment(w["experiment"]), w["kind"])
    return {"step": z.steps(t.epochs), "eval_sample": t.epochs * (z.val + z.test) + z.all}


def _spectrum(s: Settings, w: dict, z: Sizes) -> Counts:
    return spectrum(s.hessian_of_kind(w["experiment"], w.get("kind", "l1")), s, z)


def _rows(s: Settings, w: dict, z: Sizes) -> Counts:
    h = s.hessian_for(w["experiment"])
    return {"hvp": math.ceil(h.rows / h.probes) * z.products(h, None, h.probes)}


def _actual_limit(s: Settings, w: dict, z: Sizes) -> Counts:
    exp, seed = s.experiment(w["experiment"]), int(w["seed"])
    regularised = s.regularisation.seeds is None or seed in s.regularisation.seeds
    kinds = [k for k in trained_kinds(exp) if k != "l2" or regularised]
    theories = set(predicted_kinds(exp)) if regularised else {"l1"}  # eps from their theory
    eps = z.train * len(set(kinds) - theories) if s.theory.eps == "auto" else 0
    local = {"hvp": 5 * z.products(s.hessian_for(exp.name), z.train, 1)}  # gradient + 4 products
    return _add(_times(len(kinds), curve(s, z)), {"eval_sample": eps}, local)


def _retrain(s: Settings, z: Sizes, scopes: list[str]) -> Counts:
    """An iterative run per scope: ``iterations`` retrainings of ``sap.epochs``; a pruning
    step and the record's evaluations (validation, test, the just-pruned test) per iteration."""
    sap, records = s.sap, s.sap.iterations + 1
    out = _times(len(scopes), {"step": sap.iterations * z.steps(sap.epochs)})
    out["eval_sample"] = len(scopes) * records * (z.val + 2 * z.test)
    return _add(out, *({f"prune:{scope}": records} for scope in scopes))


def _sap(s: Settings, w: dict, z: Sizes) -> Counts:
    return _retrain(s, z, list(s.sap.scopes))


def _sap_ablation(s: Settings, w: dict, z: Sizes) -> Counts:
    return _retrain(s, z, ["global"])


def _sap_dense(s: Settings, w: dict, z: Sizes) -> Counts:
    t = start_settings(s.experiment(w["experiment"]), s.compare.budget, s.sap.epochs)
    return {"step": z.steps(t.epochs), "eval_sample": z.test}


def _prune_at_init(s: Settings, w: dict, z: Sizes) -> Counts:
    get_method(w["init_method"])  # a method the registry knows
    t = start_settings(s.experiment(w["experiment"]), s.compare.budget, s.sap.epochs)
    return _times(len(s.compare.levels), {"step": z.steps(t.epochs), "eval_sample": z.val + z.test})


def _gradual(s: Settings, w: dict, z: Sizes) -> Counts:
    h = s.hessian_for(w["experiment"]).with_overrides(s.gradual.hessian)
    return _times(len(s.gradual.chosen(s.sap.iterations)), limits(h, s, z))


def _spline_eb(s: Settings, w: dict, z: Sizes) -> Counts:
    h = s.hessian_for(w["experiment"]).with_overrides(s.spline.early_bird.hessian)
    return _times(2, limits(h, s, z))  # at the end and at the early bird (if one was found)


def _linear_regions(s: Settings, w: dict, z: Sizes) -> Counts:
    r = s.spline.regions
    each = {"step": z.steps(r.finetune_epochs)}
    each["eval_sample"] = (r.finetune_epochs + 1) * (z.val + z.test) + z.all
    return _times(len(r.densities) * len(ALLOCATIONS), each)


def _spline_pruning(s: Settings, w: dict, z: Sizes) -> Counts:
    p = s.spline.pruning
    runs, _ = node_plan(p.methods, p.scopes, p.kept, z.batchnorm)
    epochs = p.retrain_epochs or train_settings(s.experiment(w["experiment"]), "l1").epochs
    return _times(len(runs), {"step": z.steps(epochs), "eval_sample": z.val + 2 * z.test})


def _spline_partition(s: Settings, w: dict, z: Sizes) -> Counts:
    from prunelimit.spline.partition import BACKDROP, NODES_PRUNED

    panels = 5 + len(NODES_PRUNED)  # weight-pruning ratios around the limit, node fractions
    grid = s.spline.early_bird.grid
    # the finer class backdrop of a ReLU MLP; a registry network that is none uses the grid's
    model = s.experiment(w["experiment"]).model
    backdrop = 0 if model in MODELS and model not in REGION_MODELS else BACKDROP**2
    return {"eval_sample": panels * (grid**2 + backdrop + z.test)}


def _ntk_sweep(s: Settings, w: dict, z: Sizes) -> Counts:
    n = s.ntk
    return _add(
        {f"ntk_sweep:{width}": n.draws for width in n.widths},
        {f"ntk_gram:{width}": n.draws for width in n.real_widths},
    )


Unit = tuple[Callable[[Settings, dict, Sizes], Counts], str]
UNITS: dict[str, Unit] = {
    "train": (_train, "epochs x (steps per epoch + validation and test passes); final passes"),
    "spectrum": (_spectrum, "Lanczos steps x chunks of hvp (all probes)"),
    "kind_spectrum": (_spectrum, "as spectrum, the kind's hessian settings"),
    "hessian_rows": (_rows, "ceil(rows / probes) products x chunks of hvp"),
    "theory": (lambda s, w, z: theory(s, z), "train passes: the loss, and eps: auto"),
    "kind_theory": (lambda s, w, z: theory(s, z), "as theory"),
    "actual_limit": (
        _actual_limit,
        "per trained kind: unpruned passes + curve points (at most); local model: a gradient "
        "and 4 one-vector products over the training split",
    ),
    "sap_dense": (_sap_dense, "the dense start's epochs x steps; a test pass"),
    "sap": (_sap, "scopes x iterations x (sap.epochs x steps + pruning step + 3 passes)"),
    "sap_ablation": (_sap_ablation, "as sap, global scope only"),
    "prune_at_init": (
        _prune_at_init,
        "compare.levels x (the budget's epochs x steps + validation and test passes)",
    ),
    "gradual": (_gradual, "kept iterations x (spectrum + theory + curve points)"),
    "spline_eb": (_spline_eb, "2 x (spectrum + theory + curve points): end and early bird"),
    "spline_pruning": (
        _spline_pruning,
        "node runs x (retraining epochs x steps + passes); epochs at most the l1 run's, steps "
        "at the dense network's cost (the pruned networks train smaller)",
    ),
    "linear_regions": (
        _linear_regions,
        "densities x allocations x (finetune epochs x steps + passes); exact region counts "
        "(CPU geometry) not timed",
    ),
    "spline_partition": (
        _spline_partition,
        "panels x plane points, evaluation passes; the exact partition (CPU geometry) not timed",
    ),
    "ntk_sweep": (_ntk_sweep, "draws x widths: sweep and Gram draws"),
}
# Rules that hold no GPU, with the reason (their seconds are not GPU hours)
FIGURE_RULES = """limits_table limit_figures predicted_vs_actual key_factors weight_distributions
regularisation_figure sap_figures sap_ablation_figures pqi_table methods_table methods_figure
ntk_figures spline_figures spline_partition_figure regions_figure spline_table
spline_pruning_table spline_pruning_figure gradual_figure gradual_table""".split()
NEGLIGIBLE: dict[str, str] = {
    "all": "the target rule, no work",
    "download": "datasets downloaded and prepared on the login node (localrule, CPU)",
    "import_weights": "weights trained elsewhere, checked on the CPU (1 thread)",
    "pqi": "PQ Index of stored weights on the CPU (1 thread)",
    "sap_lomp": "the l1 network one-shot pruned from its stored curve, on the CPU (1 thread)",
    **dict.fromkeys(FIGURE_RULES, "figures or tables from finished results (localrule, CPU)"),
}


def seconds(counts: Counts, primitives: dict[str, float]) -> float | None:
    """Seconds of a job of ``counts`` at the measured ``primitives`` (None: one is missing)."""
    if any(k not in primitives for k in counts):
        return None
    return sum(n * primitives[k] for k, n in counts.items())
