# Stage 6a: PQ Index (PQI) and Sparsity-informed Adaptive Pruning (SAP) against Lottery Ticket (LT)
# and One Shot (OS), Diao et al. (ICLR 2023); PQI of the dense, l1 and l1-pruned networks.

from prunelimit.limit.gradual_plan import kept_iterations

SAP = SETTINGS.sap
SAP_EXPERIMENTS = list(SAP.experiments)
SAP_CAT = "SAP and PQ Index"
# PQI of the trained networks: the two (p, q) pairs of the paper, plus the configured one.
SAP_PQ_PAIRS = sorted({(0.5, 1.0), (1.0, 2.0), (float(SAP.p), float(SAP.q))})


include: "sap_ablations.smk"


wildcard_constraints:
    method=one_of(SAP.methods),
    p=r"[0-9][0-9.e+-]*",
    q=r"[0-9][0-9.e+-]*",
    eta_r=r"[0-9][0-9.e+-]*",
    gamma=r"[0-9][0-9.e+-]*",


rule sap_dense:
    input:
        data=lambda w: dataset_path(w.experiment),
    output:
        f"{RUN}/sap/dense_start.pt",
    log:
        "logs/sap/{experiment}/seed{seed}/dense_start.log",
    benchmark:
        "benchmarks/sap/{experiment}/seed{seed}/dense_start.tsv"
    priority: PRIORITY["sap"]
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: start_view(w.experiment),
        budget=COMPARE.budget,
        epochs=SAP.epochs,
        device=DEVICE,
        checkpoint=lambda w: f"{run_dir(w.experiment, w.seed)}/sap/dense_start.ckpt",
    script:
        "../scripts/sap_dense.py"


rule sap:
    input:
        data=lambda w: dataset_path(w.experiment),
        start=rules.sap_dense.output[0],
    output:
        tables=expand(
            f"{RUN}/sap/{{method}}_{{scope}}.csv", scope=SAP.scopes, allow_missing=True
        ),
        records=expand(
            f"{RUN}/sap/{{method}}_{{scope}}.json",
            scope=SAP.scopes,
            allow_missing=True,
        ),
        states=expand(
            f"{RUN}/sap/{{method}}_{{scope}}_states.pt",
            scope=SAP.scopes,
            allow_missing=True,
        ),
    log:
        "logs/sap/{experiment}/seed{seed}/{method}.log",
    benchmark:
        "benchmarks/sap/{experiment}/seed{seed}/{method}.tsv"
    priority: PRIORITY["sap"]
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: start_view(w.experiment),
        budget=COMPARE.budget,
        hyper=lambda w: sap_hyper(w.method),
        scopes=SAP.scopes,
        keep=lambda w: kept_iterations(SETTINGS, w.experiment, w.method),  # gradual stage
        device=DEVICE,
        checkpoints=lambda w: [
            f"{run_dir(w.experiment, w.seed)}/sap/{w.method}_{scope}.ckpt"
            for scope in SAP.scopes
        ],
    script:
        "../scripts/sap.py"


rule pqi:
    input:
        data=lambda w: dataset_path(w.experiment),
        dense=f"{RUN}/dense.pt",
        l1=f"{RUN}/l1.pt",
        limit=rules.actual_limit.output[0],
    output:
        f"{RUN}/pqi.json",
    log:
        "logs/sap/{experiment}/seed{seed}/pqi.log",
    benchmark:
        "benchmarks/sap/{experiment}/seed{seed}/pqi.tsv"
    conda:
        "../../envs/environment.yaml"
    threads: 1
    params:
        exp=lambda w: training_view(w.experiment, "dense"),
        pairs=SAP_PQ_PAIRS,
    script:
        "../scripts/pqi.py"


rule sap_ablation:
    input:
        data=lambda w: dataset_path(w.experiment),
        start=rules.sap_dense.output[0],
    output:
        table=f"{ABLATION_PATTERN}.csv",
        records=f"{ABLATION_PATTERN}.json",
    log:
        "logs/sap/{experiment}/seed{seed}/ablation/sap_p{p}_q{q}_eta{eta_r}_gamma{gamma}.log",
    benchmark:
        "benchmarks/sap/{experiment}/seed{seed}/ablation/sap_p{p}_q{q}_eta{eta_r}_gamma{gamma}.tsv"
    priority: PRIORITY["sap"]
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: start_view(w.experiment),
        budget=COMPARE.budget,
        hyper=ablation_hyper,
        device=DEVICE,
        checkpoint=lambda w: f"{ABLATION_PATTERN.format(**w)}.ckpt",
    script:
        "../scripts/sap_ablation.py"


rule sap_lomp:
    input:
        data=lambda w: dataset_path(w.experiment),
        l1=f"{RUN}/l1.pt",
        metrics=f"{RUN}/l1_metrics.json",
        limit=rules.actual_limit.output[0],
    output:
        table=f"{RUN}/sap/lomp_global.csv",
        records=f"{RUN}/sap/lomp_global.json",
    log:
        "logs/sap/{experiment}/seed{seed}/lomp.log",
    benchmark:
        "benchmarks/sap/{experiment}/seed{seed}/lomp.tsv"
    conda:
        "../../envs/environment.yaml"
    threads: 1
    params:
        exp=lambda w: training_view(w.experiment),
        levels=COMPARE.levels,
        lt_rate=SAP.lt_rate,
        iterations=SAP.iterations,
    script:
        "../scripts/sap_lomp.py"


# PQI of the dense, l1 and pruned networks: every experiment with a dense network
PQI_RUNS = per_run(
    rules.pqi.output[0], [e for e in EXPERIMENTS if "dense" in kinds_of(e)]
)
# The record tables of an experiment's runs: each method and scope (rule `sap`), and LOMP (the
# l1 network one-shot pruned, no retraining) beside them, global scope
SAP_RUNS = {
    experiment: expand(
        f"{RUN}/sap/{{method}}_{{scope}}.csv",
        experiment=experiment,
        seed=SEEDS,
        method=SAP.methods,
        scope=SAP.scopes,
    )
    + expand(
        rules.sap_lomp.output.table,
        experiment=experiment,
        seed=SEEDS if "lomp" in COMPARE.methods else [],
    )
    for experiment in SAP_EXPERIMENTS
}


rule sap_figures:
    input:
        runs=lambda w: SAP_RUNS[w.experiment],
        limits=expand(rules.actual_limit.output[0], seed=SEEDS, allow_missing=True),
    output:
        accuracy_pdf="results/figures/sap_{experiment}_accuracy.pdf",
        accuracy_png=report(
            "results/figures/sap_{experiment}_accuracy.png",
            caption="../report/sap_accuracy.rst",
            category=SAP_CAT,
        ),
        pqi_pdf="results/figures/sap_{experiment}_pqi.pdf",
        pqi_png=report(
            "results/figures/sap_{experiment}_pqi.png",
            caption="../report/sap_pqi.rst",
            category=SAP_CAT,
        ),
        layers_pdf="results/figures/sap_{experiment}_layers.pdf",
        layers_png=report(
            "results/figures/sap_{experiment}_layers.png",
            caption="../report/sap_layers.rst",
            category=SAP_CAT,
        ),
    log:
        "logs/sap/figures_{experiment}.log",
    benchmark:
        "benchmarks/sap/figures_{experiment}.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    params:
        methods=SAP.methods,
        scopes=SAP.scopes,
    script:
        "../scripts/sap_figures.py"


rule sap_ablation_figures:
    input:
        pq=lambda w: [path for path, _ in ablation_runs(w.experiment, "pq")],
        eta_gamma=lambda w: [
            path for path, _ in ablation_runs(w.experiment, "eta_gamma")
        ],
    output:
        pq_pdf="results/figures/sap_{experiment}_ablation_pq.pdf",
        pq_png=report(
            "results/figures/sap_{experiment}_ablation_pq.png",
            caption="../report/sap_ablation_pq.rst",
            category=SAP_CAT,
        ),
        eta_gamma_pdf="results/figures/sap_{experiment}_ablation_eta_gamma.pdf",
        eta_gamma_png=report(
            "results/figures/sap_{experiment}_ablation_eta_gamma.png",
            caption="../report/sap_ablation_eta_gamma.rst",
            category=SAP_CAT,
        ),
    log:
        "logs/sap/ablation_figures_{experiment}.log",
    benchmark:
        "benchmarks/sap/ablation_figures_{experiment}.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    params:
        pq=lambda w: [setting for _, setting in ablation_runs(w.experiment, "pq")],
        eta_gamma=lambda w: [
            setting for _, setting in ablation_runs(w.experiment, "eta_gamma")
        ],
    script:
        "../scripts/sap_ablation_figures.py"


rule pqi_table:
    input:
        PQI_RUNS,
    output:
        csv=report(
            "results/tables/pqi.csv",
            caption="../report/sap_pqi_table.rst",
            category=SAP_CAT,
        ),
        md="results/tables/pqi.md",
        tex="results/tables/pqi.tex",
    log:
        "logs/sap/pqi_table.log",
    benchmark:
        "benchmarks/sap/pqi_table.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    script:
        "../scripts/pqi_table.py"


SAP_TARGETS = (
    expand(
        "results/figures/sap_{experiment}_{name}.{ext}",
        experiment=SAP_EXPERIMENTS,
        name=["accuracy", "pqi", "layers"],
        ext=["pdf", "png"],
    )
    + expand(
        "results/figures/sap_{experiment}_{name}.{ext}",
        experiment=ABLATION_EXPERIMENTS,
        name=["ablation_pq", "ablation_eta_gamma"],
        ext=["pdf", "png"],
    )
    + expand("results/tables/{name}.{ext}", name=["pqi"], ext=["csv", "md", "tex"])
    + PQI_RUNS
)
