# Stage 6c: node pruning at the spline early bird (You et al., TMLR 2022, Figs. 6-15 and Tables
# 1-12 in kind): the watched l1 run's weights at its early-bird epoch pruned node-wise by the
# spline criterion (redundant node hyperplanes), layer-wise and global, against node magnitude,
# random nodes and network slimming; retrained; accuracy against kept nodes and training FLOPs.

SPLINE_PRUNING = SETTINGS.spline.pruning
# The early-bird network comes from the watched l1 run: trained experiments only.
PRUNING_EXPERIMENTS = [e for e in SPLINE_EXPERIMENTS if e not in IMPORTED]


rule spline_pruning:
    input:
        data=lambda w: dataset_path(w.experiment),
        model=f"{RUN}/l1.pt",
        watch=f"{RUN}/l1_watch.pt",
    output:
        table=f"{RUN}/spline/pruning.csv",
        records=f"{RUN}/spline/pruning.json",
    log:
        "logs/spline/{experiment}/seed{seed}/pruning.log",
    benchmark:
        "benchmarks/spline/{experiment}/seed{seed}/pruning.tsv"
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: training_view(w.experiment),
        pruning=SPLINE_PRUNING.as_dict(),
        device=DEVICE,
        checkpoint=lambda w: f"{run_dir(w.experiment, w.seed)}/spline/pruning.ckpt",
    script:
        "../scripts/spline_pruning.py"


rule spline_pruning_table:
    input:
        runs=per_run(rules.spline_pruning.output.table, PRUNING_EXPERIMENTS),
    output:
        csv=report(
            "results/tables/spline_pruning.csv",
            caption="../report/spline_pruning_table.rst",
            category=SPLINE_CAT,
        ),
        md="results/tables/spline_pruning.md",
        tex="results/tables/spline_pruning.tex",
    log:
        "logs/spline/pruning_table.log",
    benchmark:
        "benchmarks/spline/pruning_table.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    params:
        titles=node_titles(SPLINE_PRUNING.methods),
    script:
        "../scripts/spline_pruning_table.py"


rule spline_pruning_figure:
    input:
        runs=expand(rules.spline_pruning.output.table, seed=SEEDS, allow_missing=True),
    output:
        pdf="results/figures/spline_pruning_{experiment}.pdf",
        png=report(
            "results/figures/spline_pruning_{experiment}.png",
            caption="../report/spline_pruning.rst",
            category=SPLINE_CAT,
            subcategory="{experiment}",
        ),
    log:
        "logs/spline/pruning_figure_{experiment}.log",
    benchmark:
        "benchmarks/spline/pruning_figure_{experiment}.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    params:
        titles=node_titles(SPLINE_PRUNING.methods),
    script:
        "../scripts/spline_pruning_figure.py"


SPLINE_PRUNING_TARGETS = expand(
    "results/tables/spline_pruning.{ext}", ext=["csv", "md", "tex"]
) + expand(
    "results/figures/spline_pruning_{experiment}.{ext}",
    experiment=PRUNING_EXPERIMENTS,
    ext=["pdf", "png"],
)
