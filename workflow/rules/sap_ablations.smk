# Stage 6a: the SAP ablations' settings and the record tables behind their figures (included by
# sap.smk).


# SAP ablations (Diao et al. Figs. 4 and 5), global scope: `sap.ablations.pq` are (p, q) with
# sap's (eta_r, gamma), `sap.ablations.eta_gamma` are (eta_r, gamma) with sap's (p, q). The
# configured setting itself is the main SAP run's global scope when it is planned.
def _num(x):
    return f"{float(x):g}"


SAP_BASE = (_num(SAP.p), _num(SAP.q), _num(SAP.eta_r), _num(SAP.gamma))
SAP_ABL = SAP.ablations
SAP_ABLATIONS = {
    "pq": [(_num(p), _num(q), SAP_BASE[2], SAP_BASE[3]) for p, q in SAP_ABL.pq],
    "eta_gamma": [
        (SAP_BASE[0], SAP_BASE[1], _num(e), _num(g)) for e, g in SAP_ABL.eta_gamma
    ],
}
ABLATION_EXPERIMENTS = [
    e
    for e in SAP_EXPERIMENTS
    if SAP_ABL.experiments is None or e in SAP_ABL.experiments
]
SAP_BASE_IS_MAIN = "sap" in SAP.methods and "global" in SAP.scopes
ABLATION_PATTERN = (
    f"{RUN}/sap/ablation/sap_p{{p}}_q{{q}}_eta{{eta_r}}_gamma{{gamma}}_global"
)


def ablation_runs(experiment, family):
    """(record table, setting) behind ablation figure ``family`` (pq or eta_gamma), every
    seed: the configured setting first (the main SAP run's global scope, or its own ablation
    run), then each of the family's settings."""
    settings = dict.fromkeys([SAP_BASE, *SAP_ABLATIONS[family]])
    runs = []
    for seed in SEEDS:
        for setting in settings:
            values = dict(zip(("p", "q", "eta_r", "gamma"), setting))
            if setting == SAP_BASE and SAP_BASE_IS_MAIN:
                path = f"{run_dir(experiment, seed)}/sap/sap_global.csv"
            else:
                path = ABLATION_PATTERN.format(
                    experiment=experiment, seed=seed, **values
                )
                path += ".csv"
            runs.append((path, {k: float(v) for k, v in values.items()}))
    return runs


def ablation_hyper(w):
    """The SAP run's keys with the setting of the output's name."""
    values = {k: float(w[k]) for k in ("p", "q", "eta_r", "gamma")}
    return {**sap_hyper("sap"), **values}
