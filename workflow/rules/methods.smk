# Stage 6b: every pruning method at matched sparsity and stated budgets (the limit paper's LOMP
# tables): the iterative runs of the SAP stage, LOMP, and the methods that prune at the
# initialisation (Smart-Ratio, Rare Gems, random), trained with `compare.budget`.

from prunelimit.methods.registry import get_method

INIT_METHODS = [m for m in COMPARE.methods if get_method(m).schedule == "at-init"]
METHODS_CAT = "Pruning methods"


wildcard_constraints:
    init_method=one_of(INIT_METHODS),


rule prune_at_init:
    input:
        data=lambda w: dataset_path(w.experiment),
    output:
        table=f"{RUN}/methods/{{init_method}}.csv",
        records=f"{RUN}/methods/{{init_method}}.json",
    log:
        "logs/methods/{experiment}/seed{seed}/{init_method}.log",
    benchmark:
        "benchmarks/methods/{experiment}/seed{seed}/{init_method}.tsv"
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
        levels=COMPARE.levels,
        settings=lambda w: COMPARE.as_dict().get(w.init_method, {}),
        device=DEVICE,
        checkpoint=lambda w: f"{run_dir(w.experiment, w.seed)}/methods/{w.init_method}.ckpt",
    script:
        "../scripts/prune_at_init.py"


# Every record table of the comparison, per SAP experiment: the iterative runs (rule `sap`),
# LOMP (`sap_lomp`) when compared, and the methods from the initialisation
METHOD_RUNS = {
    experiment: SAP_RUNS[experiment]
    + expand(
        rules.prune_at_init.output.table,
        experiment=experiment,
        seed=SEEDS,
        init_method=INIT_METHODS,
    )
    for experiment in SAP_EXPERIMENTS
}


rule methods_table:
    input:
        runs=[path for runs in METHOD_RUNS.values() for path in runs],
    output:
        csv=report(
            "results/tables/methods.csv",
            caption="../report/methods_table.rst",
            category=METHODS_CAT,
        ),
        md="results/tables/methods.md",
        tex="results/tables/methods.tex",
    log:
        "logs/methods/table.log",
    benchmark:
        "benchmarks/methods/table.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    params:
        levels=COMPARE.levels,
        iterative=SAP.methods,
    script:
        "../scripts/methods_table.py"


rule methods_figure:
    input:
        runs=lambda w: METHOD_RUNS[w.experiment],
    output:
        pdf="results/figures/methods_{experiment}.pdf",
        png=report(
            "results/figures/methods_{experiment}.png",
            caption="../report/methods_accuracy.rst",
            category=METHODS_CAT,
        ),
    log:
        "logs/methods/figure_{experiment}.log",
    benchmark:
        "benchmarks/methods/figure_{experiment}.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    params:
        iterative=SAP.methods,
        titles={m: get_method(m).title for m in [*SAP.methods, *COMPARE.methods]},
    script:
        "../scripts/methods_figure.py"


METHODS_TARGETS = expand(
    "results/tables/methods.{ext}", ext=["csv", "md", "tex"]
) + expand(
    "results/figures/methods_{experiment}.{ext}",
    experiment=SAP_EXPERIMENTS,
    ext=["pdf", "png"],
)
