# Stage 7: the limits table and figures (theory against practice), for the report. The
# comparisons' tables and figures are in their own stage files (sap, ntk, spline).

LIMITS_CAT = "Pruning limit: theory against practice"


rule limits_table:
    input:
        theory=per_run(rules.theory.output[0]),
        limit=per_run(rules.actual_limit.output[0]),
        metrics=per_run(rules.train.output.metrics, kind="l1"),
        kind_theory=kind_theories(),
    output:
        csv=report(
            "results/tables/limits.csv",
            caption="../report/limits_table.rst",
            category=LIMITS_CAT,
        ),
        md="results/tables/limits.md",
        tex="results/tables/limits.tex",
        spectra_csv=report(
            "results/tables/spectra.csv",
            caption="../report/spectra_table.rst",
            category=LIMITS_CAT,
        ),
        spectra_md="results/tables/spectra.md",
        spectra_tex="results/tables/spectra.tex",
    log:
        "logs/results/limits_table.log",
    benchmark:
        "benchmarks/results/limits_table.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    params:
        experiments=EXPERIMENTS,
    script:
        "../scripts/limits_table.py"


rule limit_figures:
    input:
        theory=lambda w: per_run(rules.theory.output[0], [w.experiment]),
        limit=lambda w: per_run(rules.actual_limit.output[0], [w.experiment]),
        spectrum=lambda w: per_run(rules.spectrum.output[0], [w.experiment]),
        kind_theory=lambda w: kind_theories([w.experiment]),
        rows=lambda w: per_run(rules.hessian_rows.output[0], [w.experiment]),
    output:
        transition_pdf="results/figures/limit_{experiment}_transition.pdf",
        transition_png=report(
            "results/figures/limit_{experiment}_transition.png",
            caption="../report/limit_transition.rst",
            category=LIMITS_CAT,
            subcategory="{experiment}",
        ),
        spectrum_pdf="results/figures/limit_{experiment}_spectrum.pdf",
        spectrum_png=report(
            "results/figures/limit_{experiment}_spectrum.png",
            caption="../report/limit_spectrum.rst",
            category=LIMITS_CAT,
            subcategory="{experiment}",
        ),
        theory_curve_pdf="results/figures/limit_{experiment}_theory_curve.pdf",
        theory_curve_png=report(
            "results/figures/limit_{experiment}_theory_curve.png",
            caption="../report/limit_theory_curve.rst",
            category=LIMITS_CAT,
            subcategory="{experiment}",
        ),
        rows_pdf="results/figures/limit_{experiment}_hessian_rows.pdf",
        rows_png=report(
            "results/figures/limit_{experiment}_hessian_rows.png",
            caption="../report/limit_hessian_rows.rst",
            category=LIMITS_CAT,
            subcategory="{experiment}",
        ),
        local_pdf="results/figures/limit_{experiment}_local_model.pdf",
        local_png=report(
            "results/figures/limit_{experiment}_local_model.png",
            caption="../report/limit_local_model.rst",
            category=LIMITS_CAT,
            subcategory="{experiment}",
        ),
        lanczos_pdf="results/figures/limit_{experiment}_lanczos.pdf",
        lanczos_png=report(
            "results/figures/limit_{experiment}_lanczos.png",
            caption="../report/limit_lanczos.rst",
            category=LIMITS_CAT,
            subcategory="{experiment}",
        ),
    log:
        "logs/results/limit_figures_{experiment}.log",
    benchmark:
        "benchmarks/results/limit_figures_{experiment}.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    script:
        "../scripts/limit_figures.py"


rule predicted_vs_actual:
    input:
        theory=per_run(rules.theory.output[0]),
        limit=per_run(rules.actual_limit.output[0]),
    output:
        pdf="results/figures/predicted_vs_actual.pdf",
        png=report(
            "results/figures/predicted_vs_actual.png",
            caption="../report/predicted_vs_actual.rst",
            category=LIMITS_CAT,
        ),
    log:
        "logs/results/predicted_vs_actual.log",
    benchmark:
        "benchmarks/results/predicted_vs_actual.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    params:
        experiments=EXPERIMENTS,
    script:
        "../scripts/predicted_vs_actual.py"


rule key_factors:
    input:
        theory=per_run(rules.theory.output[0]),
        limit=per_run(rules.actual_limit.output[0]),
        kind_theory=kind_theories(),
    output:
        pdf="results/figures/key_factors.pdf",
        png=report(
            "results/figures/key_factors.png",
            caption="../report/key_factors.rst",
            category=LIMITS_CAT,
        ),
        csv=report(
            "results/tables/key_factors.csv",
            caption="../report/key_factors_table.rst",
            category=LIMITS_CAT,
        ),
        md="results/tables/key_factors.md",
        tex="results/tables/key_factors.tex",
    log:
        "logs/results/key_factors.log",
    benchmark:
        "benchmarks/results/key_factors.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    script:
        "../scripts/key_factors.py"


rule weight_distributions:
    input:
        theory=per_run(rules.theory.output[0]),
        limit=per_run(rules.actual_limit.output[0]),
        kind_theory=kind_theories(),
    output:
        pdf="results/figures/weight_distributions.pdf",
        png=report(
            "results/figures/weight_distributions.png",
            caption="../report/weight_distributions.rst",
            category=LIMITS_CAT,
        ),
        csv=report(
            "results/tables/weight_distances.csv",
            caption="../report/weight_distances.rst",
            category=LIMITS_CAT,
        ),
        md="results/tables/weight_distances.md",
        tex="results/tables/weight_distances.tex",
    log:
        "logs/results/weight_distributions.log",
    benchmark:
        "benchmarks/results/weight_distributions.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    script:
        "../scripts/weight_distributions.py"


# The networks of the runs with an l2 network (an `l2_train` block, at the `regularisation`
# seeds), as (experiment, seed, kind): dense, l2 and l1, the order of the theories and spectra
# that the script pairs.
REGULARISATION_NETWORKS = [
    (e, s, k)
    for e in EXPERIMENTS
    for s in seeds_of(e)
    if "l2" in other_kinds(e, s)
    for k in [*other_kinds(e, s), "l1"]
]


# Zhang et al., Fig. 4 bottom: the theory's threshold without and with l2 regularisation, at
# fixed kept ratios, against the projection distance R (from the theories and spectra).
rule regularisation_figure:
    input:
        theory=[theory_path(e, s, k) for e, s, k in REGULARISATION_NETWORKS],
        spectrum=[
            path
            for e, s, k in REGULARISATION_NETWORKS
            for path in expand(
                (
                    rules.spectrum.output[0]
                    if k == "l1"
                    else rules.kind_spectrum.output[0]
                ),
                experiment=e,
                seed=s,
                kind=k,
            )
        ],
    output:
        pdf="results/figures/regularisation_threshold.pdf",
        png=report(
            "results/figures/regularisation_threshold.png",
            caption="../report/regularisation_threshold.rst",
            category=LIMITS_CAT,
        ),
    log:
        "logs/results/regularisation_figure.log",
    benchmark:
        "benchmarks/results/regularisation_figure.tsv"
    localrule: True
    conda:
        "../../envs/results.yaml"
    script:
        "../scripts/regularisation_figure.py"


RESULTS_TARGETS = [
    *(
        ["results/figures/regularisation_threshold.png"]
        if REGULARISATION_NETWORKS
        else []
    ),
    "results/figures/key_factors.png",
    "results/figures/weight_distributions.png",
    "results/tables/weight_distances.csv",
    "results/tables/limits.csv",
    "results/figures/predicted_vs_actual.png",
    *expand(
        "results/figures/limit_{experiment}_{fig}.png",
        experiment=EXPERIMENTS,
        fig=[
            "transition",
            "spectrum",
            "lanczos",
            "local_model",
            "theory_curve",
            "hessian_rows",
        ],
    ),
]
