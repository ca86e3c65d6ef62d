import copy
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_snakemake
from prunelimit.config.schema import ConfigError, load_schema
from prunelimit.config.validate import check_files, load_settings
from prunelimit.data import DATASETS
from prunelimit.models.registry import MODELS

SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_default_and_paper_configs_are_valid():
    load_settings(DEFAULT, SCHEMA)
    load_settings(yaml.safe_load((REPO / "config" / "paper.yaml").read_text()), SCHEMA)


def test_schema_enums_match_the_registries():
    item = SCHEMA["properties"]["experiments"]["items"]["properties"]
    assert set(item["model"]["anyOf"][0]["enum"]) == set(MODELS)  # or an import path
    for name in DATASETS:  # the description lists the known datasets
        assert name in item["dataset"]["description"]


def _bad(mutate) -> str:
    cfg = copy.deepcopy(DEFAULT)
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, SCHEMA)
    return str(err.value)


def test_errors_name_the_key_and_allowed_values():
    msg = _bad(lambda c: c["experiments"][0].update(model="transformer"))
    assert "experiments[0].model" in msg and "'transformer'" in msg and "resnet50" in msg
    msg = _bad(lambda c: c["experiments"][1]["train"].update(lr=-0.1))
    assert "experiments[1].train.lr" in msg
    msg = _bad(lambda c: c["experiments"][0]["train"].pop("epochs"))
    assert "missing config key experiments[0].train.epochs" in msg
    msg = _bad(lambda c: c["experiments"][0].update(dataset="imagenet"))
    assert "experiments[0].dataset" in msg and "cifar100" in msg
    msg = _bad(lambda c: c.update(seeds=[]))
    assert "seeds" in msg
    msg = _bad(lambda c: c["experiments"][1].update(name="mlp"))
    assert "'mlp' is used more than once" in msg
    msg = _bad(lambda c: c.update(lr=0.1))
    assert "Additional properties" in msg and "'lr'" in msg


def test_rules_the_schema_cannot_express_name_their_key(tmp_path, monkeypatch):
    """Each is one rule of prunelimit.config.validate; tests below see snakemake stop on them
    before any job."""
    msg = _bad(lambda c: c["sap"]["ablations"].update(pq=[[1.0, 2.0], [2.0, 1.0]]))
    assert "sap.ablations.pq[1]: p (2.0) must be smaller than q (1.0)" in msg
    msg = _bad(lambda c: c["gradual"].update(iterations=[0, 10, 12]))
    assert "gradual.iterations[2]: 12 is beyond sap.iterations (10)" in msg
    msg = _bad(lambda c: c["gradual"].update(scope="row"))
    assert "gradual.scope: 'row' is not one of sap.scopes (global, layer, neuron)" in msg
    cfg = copy.deepcopy(DEFAULT)
    cfg["gradual"] = {}  # the defaults: the dense start and the last iteration
    assert load_settings(cfg, SCHEMA).gradual.chosen(10) == [0, 10]
    cfg["datasets"] = {"mine": {"file": "data/mine.pt"}}
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"datasets.mine.file: data/mine.pt does not exist"):
        check_files(load_settings(cfg, SCHEMA))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda c: c["experiments"][0].update(model="transformer"), "experiments[0].model"),
        (lambda c: c["experiments"][0]["train"].update(lr=-1), "experiments[0].train.lr"),
        (lambda c: c["experiments"][0]["train"].pop("epochs"), "experiments[0].train.epochs"),
        # p < q is the PQ Index's domain: an ablation pair beyond it plans no job
        (lambda c: c["sap"]["ablations"].update(pq=[[2.0, 1.0]]), "sap.ablations.pq[0]"),
        # your own data's file must exist when the workflow is planned, not when it runs
        (lambda c: c.update(datasets={"mine": {"file": "no/such.pt"}}), "datasets.mine.file"),
        # the watched SAP run trains sap.iterations (10): iteration 12 is not there to analyse
        (lambda c: c["gradual"].update(iterations=[0, 12]), "gradual.iterations[1]"),
    ],
)
def test_snakemake_stops_before_any_job_naming_the_key(tmp_path, mutate, key):
    cfg = copy.deepcopy(DEFAULT)
    mutate(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake("-n", "--configfile", str(path), "--directory", str(tmp_path))
    assert proc.returncode != 0
    assert key in proc.stdout + proc.stderr
    assert not Path(tmp_path / "results").exists()


@pytest.mark.slow
def test_paper_grid_plans_without_data(tmp_path):
    proc = run_snakemake(
        "-n", "--configfile", str(REPO / "config" / "paper.yaml"), "--directory", str(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    for name in ("cifar10_fc5", "cifar10_vgg16", "cifar100_resnet50", "tinyimagenet_resnet18"):
        assert f"experiment={name}" in out
    assert "download" in out


@pytest.mark.slow
def test_paper_grid_with_slurm_profile_gives_every_gpu_job_a_gpu(tmp_path):
    proc = run_snakemake(
        "-n",
        "--configfile",
        str(REPO / "config" / "paper.yaml"),
        "--workflow-profile",
        str(REPO / "workflow" / "profiles" / "slurm"),
        "--directory",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    blocks = (proc.stdout + proc.stderr).split("\nrule ")
    gpu_rules = {
        "train",
        "spectrum",
        "theory",
        "actual_limit",
        "sap",
        "ntk_sweep",
        "spline_eb",
        "linear_regions",
    }
    seen = set()
    for block in blocks[1:]:
        rule = block.split(":", 1)[0].strip()
        if rule in gpu_rules:
            seen.add(rule)
            assert "gpu=1" in block, f"a {rule} job asks for no GPU:\n{block[:600]}"
    assert seen == gpu_rules


def test_own_weights_cross_checks(tmp_path, monkeypatch):

    msg = _bad(lambda c: c["experiments"][0].pop("train"))
    assert "experiments[0] (mlp): give `train`" in msg and "or `weights`" in msg
    msg = _bad(lambda c: c["experiments"][1].update(dense_weights="d.pt"))
    assert "experiments[1].dense_weights: only with `weights`" in msg
    msg = _bad(lambda c: c["experiments"][0].update(weights="w.pt"))  # mlp is in sap.experiments
    assert "sap.experiments[0]: 'mlp' has imported `weights`" in msg
    cfg = copy.deepcopy(DEFAULT)
    cfg["experiments"][1].update(weights="w.pt")  # fc5: in neither sap nor spline
    cfg["experiments"][1].pop("train")
    cfg["experiments"][1].pop("l1_train")
    load_settings(cfg, SCHEMA)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"experiments\[1\].weights \(fc5\): w.pt does not exist"):
        check_files(load_settings(cfg, SCHEMA))
    (tmp_path / "w.pt").write_bytes(b"x")
    check_files(load_settings(cfg, SCHEMA))  # found relative to the working directory
    cfg["experiments"][1]["weights"] = "results/other/seed0/l1.pt"  # made by this workflow
    check_files(load_settings(cfg, SCHEMA))


def test_the_l2_run_and_its_seeds_are_checked():
    msg = _bad(lambda c: c["experiments"][0].update(l2_train={"lr": 0.1}))
    assert "experiments[0].l2_train" in msg and "weight_decay" in msg
    msg = _bad(lambda c: c["experiments"][0].update(l2_train={"weight_decay": 1e-4, "l1": 1e-4}))
    assert "experiments[0].l2_train" in msg and "'l1'" in msg  # no l1 in the l2 run
    msg = _bad(lambda c: c["regularisation"].update(seeds=[7]))
    assert "regularisation.seeds: 7 is not one of `seeds`" in msg
