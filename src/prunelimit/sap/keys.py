"""The ``sap`` config keys each built-in pruning strategy reads besides the driver's
(``iterations``, ``epochs``, ``p``, ``q``), importable without torch: the workflow names each
SAP job's parameters by them while it plans (:mod:`prunelimit.sap.strategies` sets its classes'
``hyper_keys`` from here; a strategy registered elsewhere declares its own)."""

STRATEGY_KEYS: dict[str, tuple[str, ...]] = {
    "sap": ("eta_r", "gamma", "beta"),
    "lt": ("lt_rate",),
    "os": ("lt_rate",),
}
