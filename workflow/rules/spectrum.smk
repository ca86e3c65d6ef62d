# Stage 3: Hessian spectrum of the training loss at the l1-trained weights w* (and at the dense
# and l2 networks of an experiment with an `l2_train` block: `{kind}_spectrum.json`).


rule spectrum:
    input:
        data=lambda w: dataset_path(w.experiment),
        model=f"{RUN}/l1.pt",
    output:
        f"{RUN}/spectrum.json",
    log:
        "logs/spectrum/{experiment}/seed{seed}.log",
    benchmark:
        "benchmarks/spectrum/{experiment}/seed{seed}.tsv"
    priority: PRIORITY["prediction"]
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: training_view(w.experiment),
        kind="l1",
        hessian=lambda w: SETTINGS.hessian_for(w.experiment).spectrum_dict(),
        theory=THEORY_INPUTS,
        device=DEVICE,
    script:
        "../scripts/spectrum.py"


use rule spectrum as kind_spectrum with:
    input:
        data=lambda w: dataset_path(w.experiment),
        model=rules.train.output.model,
    output:
        f"{RUN}/{{kind}}_spectrum.json",
    log:
        "logs/spectrum/{experiment}/seed{seed}_{kind}.log",
    benchmark:
        "benchmarks/spectrum/{experiment}/seed{seed}_{kind}.tsv"
    wildcard_constraints:
        kind="|".join(OTHER_KINDS),
    params:
        exp=lambda w: training_view(w.experiment, w.kind),
        kind=lambda w: w.kind,
        hessian=lambda w: SETTINGS.hessian_of_kind(w.experiment, w.kind).spectrum_dict(),
        theory=THEORY_INPUTS,
        device=DEVICE,


# Zhang et al.'s appendix: the Hessian rows of the l1 network's weights at the magnitude
# thresholds (one exact Hessian-vector product each, the spectrum's samples and chunks).
rule hessian_rows:
    input:
        data=lambda w: dataset_path(w.experiment),
        model=f"{RUN}/l1.pt",
    output:
        f"{RUN}/hessian_rows.json",
    log:
        "logs/hessian_rows/{experiment}/seed{seed}.log",
    benchmark:
        "benchmarks/hessian_rows/{experiment}/seed{seed}.tsv"
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: training_view(w.experiment),
        rows=lambda w: SETTINGS.hessian_for(w.experiment).rows_dict(),
        device=DEVICE,
    script:
        "../scripts/hessian_rows.py"
