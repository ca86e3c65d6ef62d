# Stage 1: datasets (downloaded, verified, extracted, split, cached as one tensor file).


localrules:
    download,


rule download:
    output:
        "resources/datasets/{dataset}.pt",
    log:
        "logs/download/{dataset}.log",
    benchmark:
        "benchmarks/download/{dataset}.tsv"
    conda:
        "../../envs/environment.yaml"
    params:
        raw=lambda w: f"resources/raw/{w.dataset}",
        val_fraction=config["data"]["val_fraction"],
        split_seed=config["data"]["split_seed"],
    script:
        "../scripts/download.py"
