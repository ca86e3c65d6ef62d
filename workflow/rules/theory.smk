# Stage 4: the theoretical pruning limit rho_th with its bounds.


rule theory:
    input:
        data=lambda w: dataset_path(w.experiment),
        model="results/{experiment}/seed{seed}/l1.pt",
        spectrum="results/{experiment}/seed{seed}/spectrum.json",
    output:
        "results/{experiment}/seed{seed}/theory.json",
    log:
        "logs/theory/{experiment}/seed{seed}.log",
    benchmark:
        "benchmarks/theory/{experiment}/seed{seed}.tsv"
    priority: PRIORITY["prediction"]
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: training_view(w.experiment),
        theory=SETTINGS.theory.as_dict(),
        device=DEVICE,
    script:
        "../scripts/theory.py"


THEORY_TARGETS = per_run("results/{experiment}/seed{seed}/theory.json")


# `snakemake predict`: only the prediction (spectrum and theory), no actual-limit search.
rule predict:
    input:
        THEORY_TARGETS,
    localrule: True
