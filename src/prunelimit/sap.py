"""Sparsity-informed Adaptive Pruning (SAP) against Lottery Ticket (LT) and One Shot (OS).

Diao et al. (ICLR 2023). Iteration ``t = 0, 1, ..., T``: rewind to the true initialisation
(the full initial state dict: weights, biases and BatchNorm) and apply the mask ``m_t``, train
``E`` epochs with the mask held (``fit(..., masks=m_t)``) to ``w_t``, then make ``m_{t+1}``:

- ``sap``: per scope group with ``d_t`` kept weights and PQ Index ``I(w_t)`` over them,
  ``r_t = d_t (1 + eta_r)^{-q/(q-p)} (1 - I)^{qp/(q-p)}`` and
  ``c_t = floor(d_t * min(gamma (1 - r_t/d_t), beta))``; remove the ``c_t`` smallest ``|w_t|``;
- ``lt`` (Lottery Ticket): remove ``round(lt_rate * d_t)`` smallest ``|w_t|`` per group
  (round half up);
- ``os`` (One Shot): keep the ``round((1 - lt_rate)^{t+1} * n_g)`` largest ``|w_0|`` of each group
  (``n_g`` entries), ``w_0`` = the weights of the dense iteration 0; so ``m_t`` keeps
  ``(1 - lt_rate)^t`` of each group, always from the dense weights.

Scopes (groups): ``global`` (all prunable weights together), ``layer`` (one per tensor),
``neuron`` (one per output row, the first dimension of each tensor). Only the prunable weights
of :mod:`prunelimit.pruning` (Linear/Conv ``weight``) are measured and pruned; groups with no kept
weight, or only zeros, are left as they are (``c = 0``).

Iteration 0 is the dense network (same initialisation and data order for every method of a
seed). ``T`` iterations prune ``T`` times; the last record also carries the step it *would*
take (``next_percent``, ``pqi_pruned``). Per-iteration training uses the experiment's train
settings with ``epochs = E`` and ``l1 = 0``; milestones and warm-up are rescaled by
``E / epochs``. Runs are resumable at iteration granularity (and within an iteration at epoch
granularity) and a resumed run gives exactly the records of an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from prunelimit.data import DatasetSplits
from prunelimit.io import load_torch, save_torch
from prunelimit.pqi import pq_bound, pq_index, pq_index_rows
from prunelimit.pruning import (
    Masks,
    apply_masks,
    kept_ratio,
    prunable_weights,
    prune_smallest,
    prune_smallest_rows,
)
from prunelimit.training import TrainSettings, evaluate, fingerprint, fit

METHODS = ("sap", "lt", "os")
SCOPES = ("global", "layer", "neuron")


@dataclass(frozen=True)
class PruneSettings:
    """Hyperparameters of the pruning methods (the ``sap`` config section)."""

    p: float = 0.5
    q: float = 1.0
    eta_r: float = 0.0
    gamma: float = 1.0
    beta: float = 0.9
    lt_rate: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.p < self.q:
            raise ValueError(f"SAP needs 0 < p < q, got p={self.p}, q={self.q}")
        if self.eta_r < 0 or self.gamma <= 0 or not 0 < self.beta <= 1:
            raise ValueError("SAP needs eta_r >= 0, gamma > 0 and 0 < beta <= 1")
        if not 0 < self.lt_rate < 1:
            raise ValueError(f"lt_rate must be in (0, 1), got {self.lt_rate}")

    @classmethod
    def from_dict(cls, d: dict) -> PruneSettings:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: float(v) for k, v in d.items() if k in known})


# --------------------------------------------------------------------------- scope groups


Block = tuple[list[str], torch.Tensor, torch.Tensor]


def scope_blocks(weights: dict[str, torch.Tensor], masks: Masks, scope: str) -> Iterator[Block]:
    """Blocks ``(names, values, mask)`` of 2-D views whose *rows* are the scope's groups.

    ``global``: one block, one row holding all weights (in model order); ``layer``: one block
    per tensor with one row; ``neuron``: one block per tensor with one row per output unit.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    if scope == "global":
        values = torch.cat([w.detach().reshape(-1) for w in weights.values()])
        mask = torch.cat([masks[n].to(values.device).reshape(-1) for n in weights])
        yield list(weights), values.view(1, -1), mask.view(1, -1)
        return
    for name, w in weights.items():
        rows = w.shape[0] if scope == "neuron" else 1
        yield [name], w.detach().reshape(rows, -1), masks[name].to(w.device).reshape(rows, -1)


def _unblock(names: list[str], mask2d: torch.Tensor, weights: dict[str, torch.Tensor]) -> Masks:
    flat, out, start = mask2d.reshape(-1), {}, 0
    for name in names:
        n = weights[name].numel()
        out[name] = flat[start : start + n].view_as(weights[name]).clone()
        start += n
    return out


def _prune_rows(values: torch.Tensor, mask: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    if values.shape[0] == 1:  # one group: the library's mask helper
        return prune_smallest(values[0], mask[0], int(counts[0])).view_as(mask)
    return prune_smallest_rows(values, mask, counts)


def sap_prune_counts(
    values: torch.Tensor,
    mask: torch.Tensor,
    p: float,
    q: float,
    eta_r: float,
    gamma: float,
    beta: float,
) -> dict[str, torch.Tensor]:
    """SAP per row of a 2-D block: ``d``, ``pqi``, bound ``r`` and count ``c`` (float64).

    Rows with no kept weight or only zeros get ``c = 0`` (and ``r = d``).
    """
    d = mask.sum(1).double()
    pqi = pq_index_rows(values, p, q, mask)
    r = pq_bound(d, pqi, p, q, eta_r)
    undefined = pqi.isnan()
    r = torch.where(undefined, d, r)
    ratio = torch.where(d > 0, r / d.clamp_min(1), torch.ones_like(d))
    frac = torch.clamp(gamma * (1.0 - ratio), min=0.0, max=beta)
    c = torch.floor(d * frac)
    return {"d": d, "pqi": pqi, "r": r, "c": c}


def _step(
    weights: dict[str, torch.Tensor],
    masks: Masks,
    scope: str,
    hyper: PruneSettings,
    counts_fn: Callable[[torch.Tensor, torch.Tensor, dict], torch.Tensor] | None,
    keep_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    dense: dict[str, torch.Tensor] | None = None,
) -> tuple[Masks, dict]:
    new_masks: Masks = {}
    parts: dict[str, list] = {"d": [], "pqi": [], "r": [], "c": [], "layer": []}
    dense_blocks = (
        scope_blocks(dense, {n: torch.ones_like(m) for n, m in masks.items()}, scope)
        if dense is not None
        else None
    )
    for names, values, mask in scope_blocks(weights, masks, scope):
        stats = sap_prune_counts(
            values, mask, hyper.p, hyper.q, hyper.eta_r, hyper.gamma, hyper.beta
        )
        if dense_blocks is not None:  # one shot: from the dense weights, all entries
            _, dvalues, full = next(dense_blocks)
            n = full.sum(1).double()
            new = _prune_rows(dvalues.to(values.device), full.to(values.device), n - keep_fn(n))
        else:
            new = _prune_rows(values, mask, counts_fn(values, mask, stats))
        stats["c"] = (mask.sum(1) - new.sum(1)).double()  # d_t - d_{t+1}
        for k in ("d", "pqi", "r", "c"):
            parts[k].append(stats[k].cpu())
        parts["layer"] += ["*" if len(names) > 1 else names[0]] * values.shape[0]
        new_masks.update(_unblock(names, new, weights))
    info = {k: torch.cat(v) if k != "layer" else v for k, v in parts.items()}
    return new_masks, info


def sap_step(
    weights: dict[str, torch.Tensor],
    masks: Masks,
    scope: str,
    p: float = 0.5,
    q: float = 1.0,
    eta_r: float = 0.0,
    gamma: float = 1.0,
    beta: float = 0.9,
) -> tuple[Masks, dict]:
    """One SAP pruning step. ``info`` holds per-group float64 tensors ``d`` (kept before),
    ``pqi``, ``r`` (bound) and ``c`` (removed), and ``layer`` (each group's tensor, ``*`` for
    the global group)."""
    hyper = PruneSettings(p=p, q=q, eta_r=eta_r, gamma=gamma, beta=beta)
    return _step(weights, masks, scope, hyper, lambda v, m, s: s["c"])


def lt_step(
    weights: dict[str, torch.Tensor],
    masks: Masks,
    scope: str,
    rate: float = 0.2,
    p: float = 0.5,
    q: float = 1.0,
) -> tuple[Masks, dict]:
    """Lottery Ticket step: remove ``round(rate * d)`` (half up) smallest kept per group.
    ``info`` as :func:`sap_step` (``pqi``, ``r`` measured with ``p``, ``q``)."""
    hyper = PruneSettings(p=p, q=q, lt_rate=rate)
    return _step(weights, masks, scope, hyper, lambda v, m, s: torch.floor(rate * s["d"] + 0.5))


def os_masks(
    dense: dict[str, torch.Tensor],
    scope: str,
    keep_fraction: float,
    weights: dict[str, torch.Tensor] | None = None,
    masks: Masks | None = None,
    p: float = 0.5,
    q: float = 1.0,
) -> tuple[Masks, dict]:
    """One Shot masks: keep ``round(keep_fraction * n_g)`` (half up) largest ``|dense|`` of each
    group of ``n_g`` entries. With ``weights``/``masks`` (the current trained network and its
    mask), ``info`` measures them as :func:`sap_step` does; otherwise the dense weights."""
    weights = dense if weights is None else weights
    if masks is None:
        masks = {n: torch.ones_like(w, dtype=torch.bool) for n, w in weights.items()}
    hyper = PruneSettings(p=p, q=q)
    return _step(
        weights,
        masks,
        scope,
        hyper,
        None,
        keep_fn=lambda n: torch.floor(keep_fraction * n + 0.5),
        dense=dense,
    )


# --------------------------------------------------------------------------- driver


def iteration_settings(train: TrainSettings, epochs: int) -> TrainSettings:
    """The experiment's train settings for one pruning iteration: ``epochs = E``, ``l1 = 0``,
    milestones and warm-up rescaled by ``E / train.epochs``."""
    scale = epochs / train.epochs
    return replace(
        train,
        epochs=int(epochs),
        l1=0.0,
        milestones=tuple(max(1, round(m * scale)) for m in train.milestones),
        warmup_epochs=min(int(round(train.warmup_epochs * scale)), max(0, epochs - 1)),
    )


def _masks_hash(masks: Masks) -> str:
    import hashlib

    h = hashlib.sha256()
    for name, m in masks.items():
        h.update(name.encode())
        h.update(m.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def _cpu(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in d.items()}


def run_pruning(
    method: str,
    scope: str,
    build: Callable[[], nn.Module],
    data: DatasetSplits,
    train: TrainSettings,
    iterations: int,
    epochs: int,
    hyper: PruneSettings,
    seed: int,
    checkpoint: str | Path | None = None,
    log: Callable[[str], None] = print,
    identity: dict | None = None,
) -> list[dict]:
    """Run ``iterations`` (``T``) pruning iterations of ``method`` in ``scope``; one record per
    trained network ``t = 0..T`` (see the module docstring).

    ``build()`` returns the freshly initialised model on the training device (seeded by the
    caller); its full state dict is ``w_init``. Each record: ``iteration``, ``kept``,
    ``percent`` (of prunable weights kept by ``m_t``), ``train_loss``, ``val_loss``,
    ``val_acc``, ``test_loss``, ``test_acc``, ``pqi_trained`` / ``pqi_pruned`` (global PQI of
    ``w_t`` over ``m_t`` / ``m_{t+1}``), ``pqi_scope`` (mean group PQI in the scope), ``bound``
    (sum of the groups' ``r_t``), ``pruned`` (sum of ``c_t``), ``next_percent`` and ``layers``
    (tensor name -> kept fraction of ``m_t``). ``checkpoint``: resume file, written atomically
    after every iteration (plus ``<checkpoint>.iter`` within an iteration). A checkpoint is
    resumed only if it was written for the same data, ``identity`` (e.g. the experiment's name,
    dataset, model), method, scope, hyperparameters, seed and settings.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    model = build()
    device = next(model.parameters()).device
    init_state = _cpu(model.state_dict())
    names = list(prunable_weights(model))
    total = sum(p.numel() for p in prunable_weights(model).values())
    masks = {n: torch.ones_like(p, dtype=torch.bool) for n, p in prunable_weights(model).items()}
    settings = iteration_settings(train, epochs)
    run_id = fingerprint(
        method=method,
        scope=scope,
        hyper=asdict(hyper),
        seed=seed,
        settings=asdict(settings),
        names=names,
        total=total,
        data=data.meta,
        identity=identity or {},
    )
    records: list[dict] = []
    dense: dict[str, torch.Tensor] | None = None
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt is not None and ckpt.exists():
        state = load_torch(ckpt)
        if state.get("run_id") == run_id:
            init_state, records, dense = state["init_state"], state["records"], state["dense"]
            masks = {k: v.to(device) for k, v in state["masks"].items()}
            records = records[: iterations + 1]
            log(f"resumed from {ckpt} after iteration {len(records) - 1}")
        else:
            log(f"ignoring checkpoint {ckpt}: it belongs to another run configuration")
    iter_ckpt = Path(f"{ckpt}.iter") if ckpt is not None else None

    for t in range(len(records), iterations + 1):
        model.load_state_dict(init_state)  # rewind everything: weights, biases, BN
        apply_masks(model, masks)
        iter_seed = seed * 100_003 + t  # same data order for every method of a seed
        torch.manual_seed(iter_seed)
        kept = sum(int(m.sum()) for m in masks.values())
        log(f"[{method}/{scope}] iteration {t}/{iterations}: {100 * kept / total:.3f} % kept")
        history = fit(
            model,
            data,
            settings,
            iter_seed,
            checkpoint=iter_ckpt,
            run_id=fingerprint(run=run_id, t=t, masks=_masks_hash(masks)),
            masks=masks,
            log=log,
        )
        weights = {n: p.detach() for n, p in prunable_weights(model).items()}
        if t == 0:
            dense = _cpu(weights)
        if method == "sap":
            new_masks, info = sap_step(
                weights, masks, scope, hyper.p, hyper.q, hyper.eta_r, hyper.gamma, hyper.beta
            )
        elif method == "lt":
            new_masks, info = lt_step(weights, masks, scope, hyper.lt_rate, hyper.p, hyper.q)
        else:
            new_masks, info = os_masks(
                {k: v.to(device) for k, v in dense.items()},
                scope,
                (1.0 - hyper.lt_rate) ** (t + 1),
                weights,
                masks,
                hyper.p,
                hyper.q,
            )
        val = evaluate(model, data.val) if len(data.val) else (math.nan, math.nan)
        test = evaluate(model, data.test)
        pqi_groups = info["pqi"][~info["pqi"].isnan()]
        records.append(
            {
                "iteration": t,
                "kept": kept,
                "percent": 100.0 * kept / total,
                "train_loss": history["train_loss"][-1] if history["train_loss"] else math.nan,
                "val_loss": val[0],
                "val_acc": val[1],
                "test_loss": test[0],
                "test_acc": test[1],
                "pqi_trained": pq_index_all(weights, masks, hyper.p, hyper.q),
                "pqi_pruned": pq_index_all(weights, new_masks, hyper.p, hyper.q),
                "pqi_scope": float(pqi_groups.mean()) if pqi_groups.numel() else math.nan,
                "bound": float(info["r"].sum()),
                "pruned": int(info["c"].sum()),
                "next_percent": 100.0 * kept_ratio(new_masks),
                "layers": {n: float(m.float().mean()) for n, m in masks.items()},
            }
        )
        r = records[-1]
        log(
            f"[{method}/{scope}] iteration {t}: test_acc {r['test_acc']:.4f} pqi "
            f"{r['pqi_trained']:.4f} -> {r['pqi_pruned']:.4f} bound {r['bound']:.1f} "
            f"pruned {r['pruned']} -> {r['next_percent']:.3f} % kept"
        )
        masks = new_masks
        if ckpt is not None:
            save_torch(
                ckpt,
                {
                    "run_id": run_id,
                    "init_state": init_state,
                    "records": records,
                    "masks": _cpu(masks),
                    "dense": dense,
                },
            )
            if iter_ckpt is not None:
                iter_ckpt.unlink(missing_ok=True)
    return records


def pq_index_all(weights: dict[str, torch.Tensor], masks: Masks, p: float, q: float) -> float:
    """Global PQI: all prunable weights as one vector, over the entries ``masks`` keeps."""
    flat = torch.cat([w.detach().reshape(-1) for w in weights.values()])
    mask = torch.cat([masks[n].to(flat.device).reshape(-1) for n in weights])
    return pq_index(flat, p, q, mask)


def records_frame(records: list[dict], **columns: object) -> pd.DataFrame:
    """Records as a table; ``layers`` become ``kept[<name>]`` columns; ``columns`` are added
    as constant columns in front (e.g. experiment, method, scope, seed)."""
    rows = []
    for rec in records:
        row = {**columns, **{k: v for k, v in rec.items() if k != "layers"}}
        row.update({f"kept[{n}]": f for n, f in rec.get("layers", {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- results


def read_runs(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate per-run record tables (the ``sap`` rule's CSVs)."""
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def matched_levels(df: pd.DataFrame, levels: list[float], max_ratio: float = 1.5) -> pd.DataFrame:
    """Test accuracy at matched remaining-weight levels, mean +- std over seeds.

    For each experiment, method, scope, seed and level (percent remaining), the iteration whose
    ``percent`` is nearest the level in log scale is taken. ``reached`` is False when, for some
    seed, that iteration is more than a factor ``max_ratio`` away from the level (the method did
    not get there within ``T`` iterations). Accuracies in percent.
    """
    rows = []
    keys = ["experiment", "method", "scope"]
    for key, sub in df.groupby(keys, sort=False):
        for level in levels:
            picks = []
            for _, run in sub.groupby("seed"):
                dist = (run["percent"] / level).map(math.log).abs()
                picks.append(run.loc[dist.idxmin()])
            pick = pd.DataFrame(picks)
            ratio = (pick["percent"] / level).map(lambda r: max(r, 1 / r))
            rows.append(
                {
                    **dict(zip(keys, key, strict=True)),
                    "level": level,
                    "percent_mean": pick["percent"].mean(),
                    "percent_std": pick["percent"].std(ddof=1) if len(pick) > 1 else 0.0,
                    "test_acc_mean": 100 * pick["test_acc"].mean(),
                    "test_acc_std": 100 * pick["test_acc"].std(ddof=1) if len(pick) > 1 else 0.0,
                    "iteration_mean": pick["iteration"].mean(),
                    "seeds": len(pick),
                    "reached": bool((ratio <= max_ratio).all()),
                }
            )
    return pd.DataFrame(rows)


def matched_levels_formatted(raw: pd.DataFrame) -> pd.DataFrame:
    """Wide table: one row per experiment/method/scope, one column per level with
    ``acc +- std (percent %)``; empty where the level was not reached."""
    from prunelimit.tables import format_pm

    out = []
    for key, sub in raw.groupby(["experiment", "method", "scope"], sort=False):
        row = {"experiment": key[0], "method": key[1], "scope": key[2]}
        for r in sub.itertuples():
            row[f"{r.level:g} %"] = (
                f"{format_pm(r.test_acc_mean, r.test_acc_std, 1)} ({r.percent_mean:.1f} %)"
                if r.reached
                else "not reached"
            )
        out.append(row)
    return pd.DataFrame(out)
