"""Any architecture and any data: import paths, the user's own datasets, the Python API."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import prunelimit
from conftest import REPO, run_snakemake
from prunelimit.config.schema import ConfigError, load_schema
from prunelimit.config.settings import DatasetSettings, ExperimentSettings
from prunelimit.config.validate import load_settings
from prunelimit.curvature.operator import HessianOperator
from prunelimit.data import DatasetError, load_dataset, prepare_dataset
from prunelimit.experiment.checks import check_models
from prunelimit.models.import_path import ModelError
from prunelimit.models.registry import build_model
from prunelimit.pruning import count_prunable

SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")
MODEL_FILE = Path(__file__).with_name("any_network_model.py")


def own(source: dict) -> dict:
    """A config's ``datasets`` entry with its defaults filled in, as the download rule passes it."""
    return DatasetSettings.from_dict(source).as_dict()


def _images(n: int, classes: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-dependent 3x8x8 uint8 images: each class a mean colour, plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    base = torch.linspace(40, 215, classes)[y].view(n, 1, 1, 1)
    tint = torch.tensor([1.0, 0.6, 0.3]).view(1, 3, 1, 1) * (y.view(n, 1, 1, 1) % 2)
    x = base * (1 - 0.5 * tint) + 25 * torch.randn(n, 3, 8, 8, generator=g)
    return x.clamp(0, 255).to(torch.uint8), y


def _tensor_file(path: Path, **changes) -> Path:
    x, y = _images(320)
    xt, yt = _images(64, seed=1)
    blob = {"train_x": x, "train_y": y, "test_x": xt, "test_y": yt, **changes}
    torch.save({k: v for k, v in blob.items() if v is not None}, path)
    return path


def _config(work: Path) -> dict:
    tiny = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    exp = {
        "name": "custom",
        "dataset": "shapes",
        "model": "any_network_model:SmallResNet",
        "model_args": {"width": 8},
        "train": {**tiny["experiments"][0]["train"], "epochs": 6, "batch_size": 64},
    }
    return {
        **tiny,
        "datasets": {"shapes": {"file": "shapes.pt"}},
        "experiments": [exp],
        "hessian": {**tiny["hessian"], "samples": 256, "batch_size": 128},
        "sap": {**tiny["sap"], "experiments": []},
        "spline": {**tiny["spline"], "experiments": []},
    }


# --- the workflow and the API agree -------------------------------------------------------


@pytest.mark.slow
def test_a_users_network_and_data_give_one_limit_by_workflow_and_api(tmp_path):
    shutil.copy(MODEL_FILE, tmp_path / MODEL_FILE.name)
    _tensor_file(tmp_path / "shapes.pt")
    config = _config(tmp_path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    targets = [f"results/custom/seed0/{f}" for f in ("theory.json", "limit.json")]
    args = ["--cores", "2", "--configfile", str(tmp_path / "config.yaml")]
    proc = run_snakemake(*args, "--directory", str(tmp_path), *targets)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    theory = json.loads((tmp_path / targets[0]).read_text())
    limit = json.loads((tmp_path / targets[1]).read_text())

    import any_network_model

    model = any_network_model.SmallResNet(num_classes=4, input_shape=(3, 8, 8), width=8)
    model.load_state_dict(torch.load(tmp_path / "results/custom/seed0/l1.pt", weights_only=True))
    data = tmp_path / "resources/datasets/shapes.pt"
    batch = config["experiments"][0]["train"]["batch_size"]
    api = prunelimit.predict_limit(
        model, data, hessian=config["hessian"], theory=config["theory"], batch_size=batch
    )
    assert api["rho_th"] == theory["rho_th"] and api["eps"] == theory["inputs"]["eps"]
    assert api["spectrum"]["D"] == theory["inputs"]["D"] == count_prunable(model)
    assert api["rho_lower"] == theory["rho_lower"] and api["rho_upper"] == theory["rho_upper"]
    actual = prunelimit.actual_limit(
        model, data, l1=config["experiments"][0]["train"]["l1"], limit=config["limit"],
        batch_size=batch,
    )  # fmt: skip
    for c in ("loss", "objective", "acc"):
        assert actual[f"rho_{c}"] == limit[f"rho_{c}"], c
    meta = json.loads((tmp_path / "resources/datasets/shapes.json").read_text())
    assert meta["sizes"] == {"train": 288, "val": 32, "test": 64}  # 10 % held out by the rule
    assert meta["source"] == "shapes.pt" and meta["num_classes"] == 4


@pytest.mark.slow
def test_torchvision_resnet18_goes_through_predict():
    model = build_model("torchvision:resnet18", (3, 16, 16), 10, seed=0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 3, 16, 16, generator=g), torch.randint(0, 10, (32,), generator=g)
    h = {"lanczos_steps": 4, "probes": 1, "samples": 16, "batch_size": 16, "top_k": 1}
    h["cache_primal"] = False  # tracing the linearised ResNet costs more than 4 products
    out = prunelimit.predict_limit(model, {"train": (x, y)}, hessian=h, batch_size=16)
    assert out["spectrum"]["D"] == count_prunable(model) > 11_000_000
    assert 0 < out["rho_lower"] <= out["rho_th"] <= out["rho_upper"] <= 1
    assert out["data"]["given"] == ["train"] and out["spectrum"]["samples"] == 16


def test_the_api_takes_a_data_loader_as_it_takes_tensors():
    x, y = _images(96)
    model = build_model("mlp", (3, 8, 8), 4, seed=0, widths=[16])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=40)
    h = {"lanczos_steps": 10, "probes": 1}
    a = prunelimit.predict_limit(model, {"train": loader}, hessian=h, batch_size=32)
    b = prunelimit.predict_limit(model, (x, y), hessian=h, batch_size=32)
    assert a["rho_th"] == b["rho_th"] and a["eps"] == b["eps"]


def test_the_api_gives_the_exact_hessian_rows_of_a_users_network():
    x, y = _images(64)
    model = build_model("mlp", (3, 8, 8), 4, seed=0, widths=[6])
    out = prunelimit.hessian_rows(model, (x, y), hessian={"rows": 4, "probes": 3})
    x, y = prunelimit.as_splits((x, y)).train.get(torch.arange(len(y)))  # as the API sees them
    op = HessianOperator(model, x, y)
    H = torch.autograd.functional.hessian(
        lambda f: op._loss(op.unflatten(f), x, y), op.flatten(op.w0)
    ).double()
    assert len(out["row_l1"]) == 4 and out["n_hvp"] == 4 and out["data"]["given"] == ["train"]
    exact = H[out["index"]].abs().sum(1)
    assert torch.allclose(torch.tensor(out["row_l1"], dtype=torch.float64), exact, rtol=1e-4)


def test_the_readme_python_example_runs():
    text = (REPO / "README.md").read_text()
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md (From Python)", "exec"), namespace)  # noqa: S102
    assert 0 < namespace["limit"]["rho_th"] <= 1
    assert {"rho_loss", "rho_objective", "rho_acc"} <= set(namespace["actual"])


# --- bad models, before any job ------------------------------------------------------------


def _exp_config(model: str, dataset: str = "mnist1d", **extra) -> dict:
    config = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    config["experiments"][0].update(model=model, dataset=dataset, **extra)
    config["experiments"][0].pop("model_args", None)
    return config


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("no_such_package.nets:Net", "cannot import module 'no_such_package.nets'"),
        ("any_network_model:Missing", "has no attribute 'Missing'"),
        ("any_network_model:NotAModule", "NotAModule is a class but not a torch.nn.Module"),
        ("any_network_model:wrong_output", r"output for 2 inputs is \(2, 1\), not logits"),
        ("any_network_model:NoWeights", "no prunable weights"),
        ("any_network_model:SmallResNet", "fails on a batch of inputs of shape \\(2, 1, 40\\)"),
        ("torchvision:no_such_net", "torchvision has no model builder 'no_such_net'"),
    ],
)
def test_a_bad_model_is_refused_naming_the_experiment_and_the_model(model, message):
    config = _exp_config(model)
    load_settings(config, SCHEMA)  # the schema takes any import path
    with pytest.raises(ConfigError, match=message) as err:
        check_models(load_settings(config, SCHEMA))
    assert "experiment 'tiny'" in str(err.value) and model in str(err.value)


def test_a_spline_experiment_whose_relus_the_codes_cannot_see_is_refused():
    """SmallResNet applies two of its three ReLUs as ``Tensor.relu``: its partition codes would
    miss them, so the spline stage refuses it before any job."""
    config = _exp_config("any_network_model:SmallResNet", dataset="cifar10")
    assert config["spline"]["experiments"] == ["tiny"]
    with pytest.raises(ConfigError, match=r"spline.experiments\[0\]: experiment 'tiny'") as err:
        check_models(load_settings(config, SCHEMA))
    assert "in 2 of its 3 ReLU calls" in str(err.value)
    config["spline"]["experiments"] = []  # the limit itself needs no ReLU modules
    assert check_models(load_settings(config, SCHEMA)) == frozenset()


@pytest.mark.slow
def test_an_imported_plain_relu_mlp_gets_the_region_stage(tmp_path):
    config = _exp_config("any_network_model:PlainMLP")
    assert check_models(load_settings(config, SCHEMA)) == {"tiny"}
    shutil.copy(MODEL_FILE, tmp_path / MODEL_FILE.name)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = run_snakemake(
        "-n", "--configfile", str(tmp_path / "config.yaml"), "--directory", str(tmp_path)
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"^linear_regions\s+\d+", proc.stdout, re.M), proc.stdout[-3000:]


@pytest.mark.slow
def test_the_workflow_refuses_a_bad_model_before_any_job(tmp_path):
    shutil.copy(MODEL_FILE, tmp_path / MODEL_FILE.name)
    (tmp_path / "config.yaml").write_text(
        yaml.safe_dump(_exp_config("any_network_model:NoWeights"))
    )
    proc = run_snakemake(
        "-n", "--configfile", str(tmp_path / "config.yaml"), "--directory", str(tmp_path)
    )
    assert proc.returncode != 0
    assert "experiment 'tiny': model 'any_network_model:NoWeights'" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_an_unknown_dataset_names_the_known_ones():
    with pytest.raises(ConfigError, match="'mine' is neither a known dataset nor one of the"):
        load_settings(_exp_config("mlp", dataset="mine"), SCHEMA)


# --- bad data, when it is prepared (the first job) ------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"train_y": torch.full((320,), 7)}, r"labels must lie in \[0, 4\), found 7..7"),
        ({"test_x": torch.zeros(0, 3, 8, 8, dtype=torch.uint8), "test_y": torch.zeros(0)},
         "the test split is empty"),
        ({"test_x": torch.zeros(64, 3, 4, 4, dtype=torch.uint8)}, "differ in shape"),
        ({"test_y": None}, "lacks test_y"),
        ({"train_y": torch.zeros(300, dtype=torch.long)}, "train has 320 inputs but 300 labels"),
    ],
)  # fmt: skip
def test_bad_tensors_are_refused_naming_the_dataset_and_the_file(tmp_path, changes, message):
    path = _tensor_file(tmp_path / "mine.pt", **changes)
    source = {"file": str(path), "num_classes": 4}
    out = tmp_path / "prepared" / "mine.pt"
    with pytest.raises(DatasetError, match=message) as err:
        prepare_dataset("mine", tmp_path / "raw", out, source=own(source))
    assert "dataset 'mine'" in str(err.value) and str(path) in str(err.value)
    assert not out.exists()


def _png_tree(root: Path, classes: int = 2, per_class: int = 5, size=(8, 8)) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / f"class{c}" / f"{i}.png")


def test_an_image_folder_is_prepared_with_the_split_rule(tmp_path):
    _png_tree(tmp_path / "imgs")
    out = tmp_path / "prepared" / "imgs.pt"
    meta = prepare_dataset(
        "imgs", tmp_path / "raw", out, 0.25, 0, source=own({"image_folder": str(tmp_path / "imgs")})
    )
    assert meta["input_shape"] == [3, 8, 8] and meta["num_classes"] == 2
    assert meta["sizes"] == {"train": 6, "val": 2, "test": 2}  # 20 % test, then 25 % of the rest
    data = load_dataset(out)
    assert data.train.x.dtype == torch.uint8 and set(data.train.y.tolist()) <= {0, 1}


def test_an_image_folder_without_images_is_refused(tmp_path):
    (tmp_path / "empty" / "class0").mkdir(parents=True)
    with pytest.raises(DatasetError, match="dataset 'empty': image folder .*empty"):
        prepare_dataset(
            "empty", tmp_path / "raw", tmp_path / "e.pt",
            source=own({"image_folder": str(tmp_path / "empty")}),
        )  # fmt: skip


def test_a_model_error_names_the_experiment_at_job_time():
    from prunelimit.data import get_spec
    from prunelimit.experiment.runs import new_model

    exp = {"name": "mine", "model": "any_network_model:NoWeights", "dataset": "mnist1d"}
    with pytest.raises(ModelError, match="experiment 'mine': model 'any_network_model:NoWeights'"):
        new_model(ExperimentSettings.from_dict(exp), get_spec("mnist1d"))


def test_the_api_takes_the_settings_defaults():
    """Every section the API takes has a default for every key, the one source of defaults."""
    from prunelimit.config.settings import HessianSettings, LimitSettings, TheorySettings

    assert HessianSettings().lanczos_steps == "auto" and TheorySettings().eps == "auto"
    assert LimitSettings().resolution == 0.001
