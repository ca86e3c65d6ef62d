# Stage 1: datasets (downloaded, verified, extracted, split, cached as one tensor file).


rule download:
    output:
        "resources/datasets/{dataset}.pt",
    log:
        "logs/download/{dataset}.log",
    benchmark:
        "benchmarks/download/{dataset}.tsv"
    localrule: True
    conda:
        "../../envs/environment.yaml"
    params:
        raw=lambda w: f"resources/raw/{w.dataset}",
        val_fraction=SETTINGS.data.val_fraction,
        split_seed=SETTINGS.data.split_seed,
    script:
        "../scripts/download.py"
