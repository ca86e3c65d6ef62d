"""The gradual stage's plan (torch-free, for the workflow): which watched SAP runs its config
keys name, and which of their iterations the ``sap`` job keeps for it. The keys are checked
against the SAP stage's by :func:`prunelimit.config.validate.gradual_run`."""

from __future__ import annotations

from prunelimit.config.settings import Settings


def gradual_iterations(settings: Settings) -> list[int]:
    """The iterations of the watched run analysed (0: the dense start), sorted."""
    return settings.gradual.chosen(settings.sap.iterations)


def gradual_experiments(settings: Settings) -> list[str]:
    """The SAP experiments whose watched run the gradual stage analyses (none without
    iterations)."""
    if not gradual_iterations(settings):
        return []
    chosen = settings.gradual.experiments
    return [e for e in settings.sap.experiments if chosen is None or e in chosen]


def kept_iterations(settings: Settings, experiment: str, method: str) -> dict[str, list[int]]:
    """scope -> the iterations whose retrained weights the ``sap`` job of ``method`` for
    ``experiment`` keeps for the gradual stage (none unless it is the watched run)."""
    g = settings.gradual
    watched = experiment in gradual_experiments(settings) and method == g.method
    return {
        s: gradual_iterations(settings) if watched and s == g.scope else []
        for s in settings.sap.scopes
    }
