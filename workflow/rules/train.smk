# Stage 2: dense (l1 = 0) and l1-regularised training, per experiment and seed.


rule train:
    input:
        data=lambda w: dataset_path(w.experiment),
    output:
        model="results/{experiment}/seed{seed}/{kind}.pt",
        metrics="results/{experiment}/seed{seed}/{kind}_metrics.json",
    log:
        "logs/train/{experiment}/seed{seed}/{kind}.log",
    benchmark:
        "benchmarks/train/{experiment}/seed{seed}/{kind}.tsv"
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: training_view(w.experiment, w.kind),
        device=DEVICE,
        checkpoint=lambda w: f"results/{w.experiment}/seed{w.seed}/{w.kind}.ckpt",
    script:
        "../scripts/train.py"


TRAIN_TARGETS = per_run(
    "results/{experiment}/seed{seed}/{kind}_metrics.json", kind=["dense", "l1"]
)
