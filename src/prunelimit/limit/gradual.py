"""Gradual pruning through the limit (Zhang et al., "interpretation of pruning heuristics").

The Lottery Ticket run of the SAP stage (:func:`prunelimit.sap.iterative.run_pruning`) is watched,
not repeated: :class:`IterationKeeper` keeps the retrained weights ``w_t`` and the mask ``m_t``
of the chosen iterations ``t``. At each of them the limit of the retrained network is computed
*over its surviving weights*: the sub-network whose ``D_t = ||m_t||_0`` weights are free and
whose pruned weights are held at zero. Its Hessian is ``H`` restricted to the surviving
coordinates (:class:`prunelimit.curvature.operator.HessianOperator` with a ``mask``), its magnitudes
are the surviving ``|w_t|``, and both the theory's ``rho_th`` and the actual one-shot limit
(:func:`prunelimit.limit.actual.pruning_curve` restricted to the surviving weights) are
fractions of ``D_t``. Multiplied by ``D_t / D`` they are the kept fraction of the original
``D`` that one more one-shot step from ``w_t`` reaches (``*_of_D``).

The iterations train with ``l1 = 0`` (:func:`prunelimit.config.kinds.rescaled`), so the
objective criterion (b) is the loss criterion (a) on these networks; both are reported.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from prunelimit.config.settings import HessianSettings, LimitSettings, TheorySettings
from prunelimit.data import DatasetSplits
from prunelimit.io import load_checkpoint, save_torch
from prunelimit.limit.actual import limits_of
from prunelimit.pruning import Masks, flat_mask
from prunelimit.training.loop import fingerprint


def _cpu(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in d.items()}


class IterationKeeper:
    """Observer of :func:`~prunelimit.sap.iterative.run_pruning` (its ``observer``): keeps the full
    state dict ``w_t`` and the masks ``m_t`` of the retrained network at each of
    ``iterations``; resumable with the run (``state_dict`` goes into its checkpoint)."""

    def __init__(self, iterations: Sequence[int]):
        self.iterations = sorted({int(t) for t in iterations})
        self.states: dict[int, dict] = {}

    def __call__(self, t: int, model: nn.Module, masks: Masks) -> None:
        if t in self.iterations:
            self.states[t] = {"state": _cpu(model.state_dict()), "masks": _cpu(masks)}

    def state_dict(self) -> dict:
        return {"iterations": self.iterations, "states": self.states}

    def load_state_dict(self, state: dict) -> None:
        kept = state.get("states", {}).items()
        self.states = {int(t): s for t, s in kept if int(t) in self.iterations}

    def saved(self) -> dict:
        """What the ``sap`` rule writes (``{method}_{scope}_states.pt``)."""
        return self.state_dict()


def iteration_limits(
    model: nn.Module,
    masks: Masks,
    data: DatasetSplits,
    hessian: HessianSettings,
    theory: TheorySettings,
    limit: LimitSettings,
    batch_size: int,
    seed: int,
) -> dict:
    """The limits of ``model`` (the retrained ``w_t``, pruned weights zero) over the surviving
    weights of ``masks``: ``rho_th`` and bounds (theory), ``rho_loss``/``rho_objective``/
    ``rho_acc`` (actual, one-shot magnitude pruning among the surviving weights), as fractions
    of the surviving ``D_t`` and (``*_of_D``) of the original ``D``. ``batch_size``: the one of
    ``eps: auto`` (the iterations' training batch)."""
    t0 = time.perf_counter()
    device = next(model.parameters()).device
    masks = {n: m.to(device).bool() for n, m in masks.items()}
    mask = flat_mask(model, masks)
    D, D_t = mask.numel(), int(mask.sum())
    # the iterations train without l1 (config.kinds.rescaled): (b) equals (a)
    res = limits_of(model, data, hessian, theory, limit, batch_size, seed, l1=0.0, masks=masks)
    th, actual = res["theory"], res["actual"]
    eps = th["inputs"]["eps"]
    kept = D_t / D
    out = {
        "D": D,
        "D_surviving": D_t,
        "kept": kept,
        "eps": eps,
        "test_acc": res["test_acc"],
        **{k: th[k] for k in ("rho_th", "rho_lower", "rho_upper", "converged", "resolved")},
        **{f"rho_{c}": actual[f"rho_{c}"] for c in ("loss", "objective", "acc")},
    }
    for k in ("rho_th", "rho_lower", "rho_upper", "rho_loss", "rho_objective", "rho_acc"):
        out[f"{k}_of_D"] = out[k] * kept
    out["lanczos_steps"] = th["inputs"]["lanczos_steps"]
    out["probes"] = th["inputs"]["probes"]
    out["theory_inputs"] = {k: v for k, v in th["inputs"].items() if k != "spectrum_resolution"}
    out["actual"] = actual
    out["seconds"] = time.perf_counter() - t0
    return out


def gradual_limits(
    model: nn.Module,
    saved: dict,
    records: list[dict],
    data: DatasetSplits,
    hessian: HessianSettings,
    theory: TheorySettings,
    limit: LimitSettings,
    batch_size: int,
    seed: int,
    checkpoint: str | Path | None = None,
) -> dict:
    """The limits at every kept iteration of a watched run (``saved``: an
    :class:`IterationKeeper`'s ``saved()``; ``records``: the run's records, for the schedule;
    ``model``: the experiment's model, into which each ``w_t`` is loaded). Nothing is trained.
    ``checkpoint``: the finished iterations' points, written after each; a rerun with the same
    inputs resumes after the last and gives the points of an uninterrupted run.
    """
    schedule = [{"iteration": r["iteration"], "kept": r["percent"] / 100} for r in records]
    missing = sorted(set(saved["iterations"]) - set(saved["states"]))
    if missing:
        raise ValueError(f"the watched run kept no weights of iterations {missing}: rerun it")
    settings = {"hessian": asdict(hessian), "theory": asdict(theory), "limit": asdict(limit)}
    run_id = fingerprint(**settings, batch=batch_size, seed=seed, data=data.meta, records=records)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    state = load_checkpoint(ckpt) if ckpt is not None else None
    points = list(state["points"]) if state and state.get("run_id") == run_id else []
    for t in sorted(saved["states"])[len(points) :]:
        s = saved["states"][t]
        model.load_state_dict(s["state"])
        res = iteration_limits(model, s["masks"], data, hessian, theory, limit, batch_size, seed)
        rec = next(r for r in records if r["iteration"] == t)
        if rec["kept"] != res["D_surviving"]:
            raise ValueError(
                f"iteration {t}: the saved mask keeps {res['D_surviving']} weights, "
                f"the run's record {rec['kept']}"
            )
        print(
            f"iteration {t}: kept {res['kept']:.4%} of D; over the surviving weights rho_th "
            f"{res['rho_th']:.4f}, actual (a) {res['rho_loss']:.4f} (b) "
            f"{res['rho_objective']:.4f}; of D: rho_th {res['rho_th_of_D']:.4%}, actual (a) "
            f"{res['rho_loss_of_D']:.4%}; {res['seconds']:.1f} s",
            flush=True,
        )
        points.append({"iteration": t, **res})
        if ckpt is not None:
            save_torch(ckpt, {"run_id": run_id, "points": points})
    return {"schedule": schedule, "iterations": points}
