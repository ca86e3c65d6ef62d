# Stage 6b: NTK of randomly pruned networks (Yang & Wang, AISTATS 2023): the empirical NTK of
# pruned ReLU MLPs against the dense infinite-width limit, with and without the 1/sqrt(1-p)
# rescaling.

NTK = SETTINGS.ntk
NTK_CAT = "NTK of randomly pruned networks"


rule ntk_sweep:
    input:
        data=f"resources/datasets/{NTK.dataset}.pt",
    output:
        sweep="results/ntk/sweep.csv",
        gram="results/ntk/gram.csv",
        summary="results/ntk/summary.json",
    log:
        "logs/ntk/sweep.log",
    benchmark:
        "benchmarks/ntk/sweep.tsv"
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        dataset=NTK.dataset,
        input_dim=NTK.input_dim,
        depth=NTK.depth,
        inner_product=NTK.inner_product,
        widths=NTK.widths,
        p=NTK.p,
        draws=NTK.draws,
        real_batch=NTK.real_batch,
        real_widths=NTK.real_widths,
        tolerance=NTK.tolerance,
        seed=NTK.seed,
        device=DEVICE,
    script:
        "../scripts/ntk_sweep.py"


rule ntk_figures:
    input:
        sweep="results/ntk/sweep.csv",
        gram="results/ntk/gram.csv",
    output:
        value_pdf="results/figures/ntk_value.pdf",
        value_png=report(
            "results/figures/ntk_value.png",
            caption="../report/ntk_value.rst",
            category=NTK_CAT,
        ),
        deviation_pdf="results/figures/ntk_deviation.pdf",
        deviation_png=report(
            "results/figures/ntk_deviation.png",
            caption="../report/ntk_deviation.rst",
            category=NTK_CAT,
        ),
        width_pdf="results/figures/ntk_width_needed.pdf",
        width_png=report(
            "results/figures/ntk_width_needed.png",
            caption="../report/ntk_width_needed.rst",
            category=NTK_CAT,
        ),
        rescaling_pdf="results/figures/ntk_rescaling.pdf",
        rescaling_png=report(
            "results/figures/ntk_rescaling.png",
            caption="../report/ntk_rescaling.rst",
            category=NTK_CAT,
        ),
        gram_pdf="results/figures/ntk_gram.pdf",
        gram_png=report(
            "results/figures/ntk_gram.png",
            caption="../report/ntk_gram.rst",
            category=NTK_CAT,
        ),
        csv=report(
            "results/tables/ntk.csv",
            caption="../report/ntk_table.rst",
            category=NTK_CAT,
        ),
        md="results/tables/ntk.md",
        tex="results/tables/ntk.tex",
    log:
        "logs/ntk/figures.log",
    benchmark:
        "benchmarks/ntk/figures.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    threads: 1
    params:
        tolerance=NTK.tolerance,
    script:
        "../scripts/ntk_figures.py"


NTK_TARGETS = expand(
    "results/figures/ntk_{name}.{ext}",
    name=["value", "deviation", "width_needed", "rescaling", "gram"],
    ext=["pdf", "png"],
) + expand("results/tables/ntk.{ext}", ext=["csv", "md", "tex"])
