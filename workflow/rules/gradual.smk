# Stage 6a: gradual pruning through the limit (Zhang et al., interpretation of pruning
# heuristics), on the SAP stage's Lottery Ticket run: the limits of the retrained network at
# chosen iterations (watched by the `sap` rule, nothing retrained), over its surviving weights.

from prunelimit.limit.gradual_plan import gradual_experiments

GRADUAL = SETTINGS.gradual
GRADUAL_EXPERIMENTS = gradual_experiments(SETTINGS)
GRADUAL_CAT = "Pruning limit: gradual pruning"
GRADUAL_RUN = (
    f"{GRADUAL.method}_{GRADUAL.scope}"  # the watched run of each experiment, seed
)


rule gradual:
    input:
        data=lambda w: dataset_path(w.experiment),
        states=f"{RUN}/sap/{GRADUAL_RUN}_states.pt",
        records=f"{RUN}/sap/{GRADUAL_RUN}.json",
    output:
        f"{RUN}/gradual/limits.json",
    log:
        "logs/gradual/{experiment}/seed{seed}.log",
    benchmark:
        "benchmarks/gradual/{experiment}/seed{seed}.tsv"
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: start_view(w.experiment),
        budget=COMPARE.budget,  # the watched run's batch, for eps: auto
        hessian=lambda w: SETTINGS.hessian_for(w.experiment)
        .with_overrides(GRADUAL.hessian)
        .spectrum_dict(),
        theory=THEORY_INPUTS,
        limit=LIMIT_GRID,
        device=DEVICE,
        checkpoint=lambda w: f"{run_dir(w.experiment, w.seed)}/gradual/limits.ckpt",
    script:
        "../scripts/gradual.py"


rule gradual_figure:
    input:
        expand(rules.gradual.output[0], seed=SEEDS, allow_missing=True),
    output:
        pdf="results/figures/gradual_{experiment}.pdf",
        png=report(
            "results/figures/gradual_{experiment}.png",
            caption="../report/gradual.rst",
            category=GRADUAL_CAT,
            subcategory="{experiment}",
        ),
    log:
        "logs/gradual/figure_{experiment}.log",
    benchmark:
        "benchmarks/gradual/figure_{experiment}.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    script:
        "../scripts/gradual_figure.py"


rule gradual_table:
    input:
        expand(rules.gradual.output[0], experiment=GRADUAL_EXPERIMENTS, seed=SEEDS),
    output:
        csv=report(
            "results/tables/gradual.csv",
            caption="../report/gradual_table.rst",
            category=GRADUAL_CAT,
        ),
        md="results/tables/gradual.md",
        tex="results/tables/gradual.tex",
    log:
        "logs/gradual/table.log",
    benchmark:
        "benchmarks/gradual/table.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    script:
        "../scripts/gradual_table.py"


GRADUAL_TARGETS = expand(
    "results/figures/gradual_{experiment}.{ext}",
    experiment=GRADUAL_EXPERIMENTS,
    ext=["pdf", "png"],
) + (
    expand("results/tables/gradual.{ext}", ext=["csv", "md", "tex"])
    if GRADUAL_EXPERIMENTS
    else []
)
