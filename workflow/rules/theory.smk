# Stage 4: the theoretical pruning limit rho_th with its bounds (of the l1 network; of the dense
# and l2 ones too for an experiment with an `l2_train` block: `{kind}_theory.json`).


rule theory:
    input:
        data=lambda w: dataset_path(w.experiment),
        model=f"{RUN}/l1.pt",
        spectrum=rules.spectrum.output[0],
    output:
        f"{RUN}/theory.json",
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
        kind="l1",
        theory=SETTINGS.theory.as_dict(),
        device=DEVICE,
    script:
        "../scripts/theory.py"


use rule theory as kind_theory with:
    input:
        data=lambda w: dataset_path(w.experiment),
        model=rules.train.output.model,
        spectrum=rules.kind_spectrum.output[0],
    output:
        f"{RUN}/{{kind}}_theory.json",
    log:
        "logs/theory/{experiment}/seed{seed}_{kind}.log",
    benchmark:
        "benchmarks/theory/{experiment}/seed{seed}_{kind}.tsv"
    wildcard_constraints:
        kind="|".join(OTHER_KINDS),
    params:
        exp=lambda w: training_view(w.experiment, w.kind),
        kind=lambda w: w.kind,
        theory=SETTINGS.theory.as_dict(),
        device=DEVICE,


THEORY_TARGETS = per_run(rules.theory.output[0]) + kind_theories()


# `snakemake predict`: only the prediction (spectrum and theory), no actual-limit search.
rule predict:
    input:
        THEORY_TARGETS,
    localrule: True
