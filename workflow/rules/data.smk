# Stage 1: datasets (downloaded, verified, extracted, split, cached as one tensor file).


rule download:
    input:
        # your own data's file: a changed file prepares it again (and reruns what follows)
        lambda w: (
            [SETTINGS.datasets[w.dataset]["file"]]
            if "file" in SETTINGS.datasets.get(w.dataset, {})
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
        source=lambda w: SETTINGS.datasets.get(w.dataset),  # your own data, or None
    script:
        "../scripts/download.py"
