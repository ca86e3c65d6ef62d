# Stage 5: the actual limit by one-shot magnitude pruning (LOMP) of w*, and of the dense net.


rule actual_limit:
    input:
        unpack(limit_inputs),
    output:
        f"{RUN}/limit.json",
    log:
        "logs/actual_limit/{experiment}/seed{seed}.log",
    benchmark:
        "benchmarks/actual_limit/{experiment}/seed{seed}.tsv"
    priority: PRIORITY["prediction"]
    conda:
        "../../envs/environment.yaml"
    threads: THREADS
    resources:
        gpu=GPUS,
    params:
        exp=lambda w: limit_view(w.experiment),
        limit=LIMIT_SEARCH,
        eps=SETTINGS.theory.eps,
        hessian_batch=lambda w: SETTINGS.hessian_for(w.experiment).batch_size,
        hessian_memory_gb=lambda w: SETTINGS.hessian_for(w.experiment).memory_gb,
        device=DEVICE,
    script:
        "../scripts/actual_limit.py"


LIMIT_TARGETS = per_run(rules.actual_limit.output[0])
