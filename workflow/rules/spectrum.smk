# Stage 3: Hessian spectrum of the training loss at the l1-trained weights w*.


rule spectrum:
    input:
        data=lambda w: dataset_path(w.experiment),
        model="results/{experiment}/seed{seed}/l1.pt",
    output:
        "results/{experiment}/seed{seed}/spectrum.json",
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
        exp=lambda w: EXPERIMENTS[w.experiment],
        hessian=lambda w: SETTINGS.hessian_for(w.experiment).as_dict(),
        theory=SETTINGS.theory.as_dict(),
        device=DEVICE,
    script:
        "../scripts/spectrum.py"
