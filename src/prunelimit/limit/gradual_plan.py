"""The gradual stage's plan (torch-free, for the workflow): which watched runs and iterations
its config keys name, checked against the SAP stage's settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prunelimit.config.settings import GradualSettings


def check_gradual(gradual: GradualSettings, sap: Any, experiments: Sequence[str]) -> None:
    """Raise unless the gradual ``experiments``, method, scope and iterations name a run that
    the SAP stage (its settings ``sap``) makes."""
    problems = [
        f"gradual.experiments: {e!r} is not in sap.experiments"
        for e in experiments
        if e not in sap.experiments
    ]
    if gradual.method not in sap.methods:
        problems.append(f"gradual.method: {gradual.method!r} is not in sap.methods")
    if gradual.scope not in sap.scopes:
        problems.append(f"gradual.scope: {gradual.scope!r} is not in sap.scopes")
    if problems:
        raise ValueError("; ".join(problems))


def run_iterations(gradual: GradualSettings, sap: Any) -> tuple[list[int], list[int]]:
    """(the chosen iterations the SAP run has, those beyond its ``sap.iterations``: skipped,
    so that a short run, e.g. the rehearsal's single iteration, keeps the default keys)."""
    chosen = sorted({int(t) for t in gradual.iterations})
    return [t for t in chosen if t <= sap.iterations], [t for t in chosen if t > sap.iterations]


def kept_iterations(
    gradual: GradualSettings,
    iterations: Sequence[int],
    scopes: Sequence[str],
    watched: bool,
    method: str,
) -> dict[str, list[int]]:
    """scope -> the ``iterations`` whose retrained weights a ``sap`` job of ``method`` keeps
    for the gradual stage (none unless the experiment is ``watched`` and method and scope
    match)."""
    keep = watched and method == gradual.method
    return {s: list(iterations) if keep and s == gradual.scope else [] for s in scopes}
