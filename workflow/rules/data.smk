# Stage 1: datasets (downloaded, verified, extracted, split, cached as one tensor file).


rule download:
    input:
        # your own data's file: a changed file prepares it again (and reruns what follows)
        lambda w: (
            [own.file]
            if (own := SETTINGS.datasets.get(w.dataset)) and own.file
            else []
        ),
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
        # your own data as the config gives it (the script fills in the defaults), or None
        source=lambda w: (config.get("datasets") or {}).get(w.dataset),
    script:
        "../scripts/download.py"
