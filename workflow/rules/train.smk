# Stage 2: dense (l1 = 0) and l1-regularised training, per experiment and seed; or the import
# of weights trained elsewhere (`weights:`), checked against the experiment's model.


rule train:
    input:
        data=lambda w: dataset_path(w.experiment),
    output:
        model=f"{RUN}/{{kind}}.pt",
        metrics=f"{RUN}/{{kind}}_metrics.json",
        watch=f"{RUN}/{{kind}}_watch.pt",
    log:
        "logs/train/{experiment}/seed{seed}/{kind}.log",
    benchmark:
        "benchmarks/train/{experiment}/seed{seed}/{kind}.tsv"
    wildcard_constraints:
        experiment=one_of(TRAINED),
    priority: lambda w: PRIORITY[w.kind]
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: training_view(w.experiment, w.kind),
        device=DEVICE,
        checkpoint=lambda w: f"{run_dir(w.experiment, w.seed)}/{w.kind}.ckpt",
        watch=lambda w: watch_settings(w.experiment, w.kind),
    script:
        "../scripts/train.py"


rule import_weights:
    input:
        data=lambda w: dataset_path(w.experiment),
        weights=lambda w: EXPERIMENTS[w.experiment][
            "weights" if w.kind == "l1" else "dense_weights"
        ],
    output:
        # the files `train` writes for a trained experiment, so that what follows is the same
        model=rules.train.output.model,
        metrics=rules.train.output.metrics,
    log:
        "logs/import_weights/{experiment}/seed{seed}/{kind}.log",
    benchmark:
        "benchmarks/train/{experiment}/seed{seed}/import_{kind}.tsv"
    wildcard_constraints:
        experiment=one_of(IMPORTED),
    conda:
        "../../envs/environment.yaml"
    threads: 1
    params:
        exp=lambda w: training_view(w.experiment, w.kind),
    script:
        "../scripts/import_weights.py"


TRAIN_TARGETS = [
    path
    for e in EXPERIMENTS
    for s in seeds_of(e)
    for path in expand(
        rules.train.output.metrics, experiment=e, seed=s, kind=kinds_of(e, s)
    )
]
