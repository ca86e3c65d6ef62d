# Stage 6c: spline early-bird tickets (You et al., TMLR 2022) and the pruning limit at the
# early-bird epoch; the input-plane partition at kept ratios around the limit; rank-aware
# linear-region bound guiding per-layer density (Cai et al., CPAIOR 2023) against uniform and
# global magnitude allocations.

from prunelimit.regions.bound import REGION_MODELS

SPLINE = SETTINGS.spline
SPLINE_EXPERIMENTS = list(SPLINE.experiments)
# The region bound is defined for plain ReLU MLPs only (models built from Linear + ReLU): the
# registry's REGION_MODELS and the import-path models that check_models found to be one.
REGION_EXPERIMENTS = [
    e
    for e in SPLINE_EXPERIMENTS
    if EXPERIMENTS[e]["model"] in REGION_MODELS or e in IMPORTED_MLPS
]
SPLINE_CAT = "Spline early-bird and linear regions"
# The partition figure draws one network per experiment: the first seed's.
PARTITION_SEEDS = [seeds_of(e)[0] for e in SPLINE_EXPERIMENTS]


rule spline_eb:
    input:
        data=lambda w: dataset_path(w.experiment),
        model=f"{RUN}/l1.pt",
        watch=f"{RUN}/l1_watch.pt",
    output:
        eb=f"{RUN}/spline/eb.json",
        distances=f"{RUN}/spline/eb_distances.csv",
        limit=f"{RUN}/spline/eb_limit.json",
        trajectory=f"{RUN}/spline/trajectory.npz",
    log:
        "logs/spline/{experiment}/seed{seed}/eb.log",
    benchmark:
        "benchmarks/spline/{experiment}/seed{seed}/eb.tsv"
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: EXPERIMENTS[w.experiment],
        spline=SPLINE.early_bird.as_dict(),
        hessian=lambda w: SETTINGS.hessian_for(w.experiment)
        .with_overrides(SPLINE.early_bird.hessian)
        .spectrum_dict(),
        theory=THEORY_INPUTS,
        limit=LIMIT_GRID,
        device=DEVICE,
    script:
        "../scripts/spline_eb.py"


rule spline_partition:
    input:
        data=lambda w: dataset_path(w.experiment),
        model=f"{RUN}/l1.pt",
        theory=rules.theory.output[0],
        limit=rules.actual_limit.output[0],
    output:
        record=f"{RUN}/spline/partition.json",
        arrays=f"{RUN}/spline/partition.npz",
    log:
        "logs/spline/{experiment}/seed{seed}/partition.log",
    benchmark:
        "benchmarks/spline/{experiment}/seed{seed}/partition.tsv"
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: training_view(w.experiment),
        grid=SPLINE.early_bird.grid,
        margin=SPLINE.early_bird.margin,
        device=DEVICE,
    script:
        "../scripts/spline_partition.py"


rule spline_partition_figure:
    input:
        records=expand(
            rules.spline_partition.output.record,
            zip,
            experiment=SPLINE_EXPERIMENTS,
            seed=PARTITION_SEEDS,
        ),
        arrays=expand(
            rules.spline_partition.output.arrays,
            zip,
            experiment=SPLINE_EXPERIMENTS,
            seed=PARTITION_SEEDS,
        ),
    output:
        pdf="results/figures/spline_partition.pdf",
        png=report(
            "results/figures/spline_partition.png",
            caption="../report/spline_partition.rst",
            category=SPLINE_CAT,
        ),
    log:
        "logs/spline/partition_figure.log",
    benchmark:
        "benchmarks/spline/partition_figure.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    script:
        "../scripts/spline_partition_figure.py"


rule linear_regions:
    input:
        data=lambda w: dataset_path(w.experiment),
        model=f"{RUN}/dense.pt",
    output:
        f"{RUN}/spline/regions.csv",
    log:
        "logs/spline/{experiment}/seed{seed}/regions.log",
    benchmark:
        "benchmarks/spline/{experiment}/seed{seed}/regions.tsv"
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: training_view(w.experiment, "dense"),
        spline=SPLINE.regions.as_dict(),
        grid=SPLINE.early_bird.grid,
        margin=SPLINE.early_bird.margin,
        device=DEVICE,
    script:
        "../scripts/linear_regions.py"


rule spline_figures:
    input:
        eb=expand(rules.spline_eb.output.eb, seed=SEEDS, allow_missing=True),
        distances=expand(
            rules.spline_eb.output.distances, seed=SEEDS, allow_missing=True
        ),
        limit=expand(rules.spline_eb.output.limit, seed=SEEDS, allow_missing=True),
        trajectory=expand(
            rules.spline_eb.output.trajectory, seed=SEEDS, allow_missing=True
        ),
    output:
        eb_pdf="results/figures/spline_{experiment}_eb.pdf",
        eb_png=report(
            "results/figures/spline_{experiment}_eb.png",
            caption="../report/spline_eb.rst",
            category=SPLINE_CAT,
            subcategory="{experiment}",
        ),
        trajectory_pdf="results/figures/spline_{experiment}_trajectory.pdf",
        trajectory_png=report(
            "results/figures/spline_{experiment}_trajectory.png",
            caption="../report/spline_trajectory.rst",
            category=SPLINE_CAT,
            subcategory="{experiment}",
        ),
        limit_pdf="results/figures/spline_{experiment}_eb_limit.pdf",
        limit_png=report(
            "results/figures/spline_{experiment}_eb_limit.png",
            caption="../report/spline_eb_limit.rst",
            category=SPLINE_CAT,
            subcategory="{experiment}",
        ),
    log:
        "logs/spline/figures_{experiment}.log",
    benchmark:
        "benchmarks/spline/figures_{experiment}.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    params:
        threshold=SPLINE.early_bird.threshold,
        window=SPLINE.early_bird.window,
    script:
        "../scripts/spline_figures.py"


rule regions_figure:
    input:
        regions=expand(rules.linear_regions.output[0], seed=SEEDS, allow_missing=True),
    output:
        pdf="results/figures/regions_{experiment}.pdf",
        png=report(
            "results/figures/regions_{experiment}.png",
            caption="../report/spline_regions.rst",
            category=SPLINE_CAT,
            subcategory="{experiment}",
        ),
    log:
        "logs/spline/regions_figure_{experiment}.log",
    benchmark:
        "benchmarks/spline/regions_figure_{experiment}.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    script:
        "../scripts/regions_figure.py"


rule spline_table:
    input:
        limit=expand(
            rules.spline_eb.output.limit, experiment=SPLINE_EXPERIMENTS, seed=SEEDS
        ),
        eb=expand(rules.spline_eb.output.eb, experiment=SPLINE_EXPERIMENTS, seed=SEEDS),
        regions=expand(
            rules.linear_regions.output[0], experiment=REGION_EXPERIMENTS, seed=SEEDS
        ),
    output:
        csv=report(
            "results/tables/spline.csv",
            caption="../report/spline_table.rst",
            category=SPLINE_CAT,
        ),
        md="results/tables/spline.md",
        tex="results/tables/spline.tex",
        regions_csv=report(
            "results/tables/regions.csv",
            caption="../report/spline_regions_table.rst",
            category=SPLINE_CAT,
        ),
        regions_md="results/tables/regions.md",
        regions_tex="results/tables/regions.tex",
    log:
        "logs/spline/table.log",
    benchmark:
        "benchmarks/spline/table.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    params:
        experiments=EXPERIMENTS,
    script:
        "../scripts/spline_table.py"


SPLINE_TARGETS = (
    expand(
        "results/figures/spline_{experiment}_{name}.{ext}",
        experiment=SPLINE_EXPERIMENTS,
        name=["eb", "eb_limit"],
        ext=["pdf", "png"],
    )
    + expand("results/figures/spline_partition.{ext}", ext=["pdf", "png"])
    + expand(
        "results/figures/regions_{experiment}.{ext}",
        experiment=REGION_EXPERIMENTS,
        ext=["pdf", "png"],
    )
    + expand(
        "results/tables/{name}.{ext}",
        name=["spline", "regions"],
        ext=["csv", "md", "tex"],
    )
)
