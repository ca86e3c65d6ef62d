"""Weights trained elsewhere: checks with clear errors, and a faithful import."""

import hashlib
import json
import re

import pytest
import torch

from prunelimit.config.settings import ExperimentSettings
from prunelimit.experiment.runs import import_experiment, new_model
from prunelimit.training.imported import WeightsError

E = ExperimentSettings.from_dict

EXP = {
    "name": "mine",
    "dataset": "mnist1d",
    "model": "mlp",
    "model_args": {"widths": [16, 8]},
    "weights": "w.pt",
}


def _outputs(tmp_path):
    return tmp_path / "out" / "l1.pt", tmp_path / "out" / "l1_metrics.json"


def test_import_records_sha256_and_keeps_the_weights(mnist1d, tmp_path):
    src = tmp_path / "w.pt"
    model = new_model(E(EXP), mnist1d, seed=7)
    torch.save(model.state_dict(), src)
    model_out, metrics_out = _outputs(tmp_path)
    m = import_experiment(E(EXP), "l1", 0, mnist1d, src, model_out, metrics_out)
    assert m["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    saved = torch.load(model_out)
    for k, v in model.state_dict().items():
        assert torch.equal(saved[k], v)
    on_disk = json.loads(metrics_out.read_text())
    assert on_disk["trained_here"] is False and on_disk["regime"]["in_regime"] is None
    assert "needs the training settings" in on_disk["regime"]["note"]
    layers = on_disk["regime"]["layer_magnitudes"]
    assert set(layers) == {"net.1.weight", "net.3.weight", "net.5.weight"}
    w = model.net[1].weight.detach().abs()
    assert layers["net.1.weight"]["max"] == pytest.approx(float(w.max()))
    # with the training settings, the drift rule is applied; the plateau stays unknown
    described = {
        **EXP,
        "train": {"epochs": 300, "lr": 0.1, "l1": 1e-4, "schedule": "cosine", "warmup_epochs": 5},
    }
    m = import_experiment(E(described), "l1", 0, mnist1d, src, model_out, metrics_out)
    assert m["regime"]["drift"] == pytest.approx(0.4379, abs=1e-3)
    # (so narrow a network has init stds of 0.35-0.5: the budget does not reach them)
    assert m["regime"]["drift_ok"] is False and m["regime"]["in_regime"] is None


@pytest.mark.parametrize("case", ["missing", "text", "list", "architecture", "classes", "nan"])
def test_bad_weights_fail_clearly_and_write_nothing(mnist1d, tmp_path, case):
    src = tmp_path / "w.pt"
    expect = {
        "missing": "does not exist",
        "text": "not a PyTorch file",
        "list": "not a state dict",
        "architecture": "keys do not match",
        "classes": "'net.5.weight' has shape (5, 8)",
        "nan": "NaN",
    }[case]
    if case == "text":
        src.write_text("not weights")
    elif case == "list":
        torch.save([torch.zeros(3)], src)
    elif case == "architecture":
        fc5 = E({**EXP, "model": "fc5", "model_args": {}})
        torch.save(new_model(fc5, mnist1d).state_dict(), src)
    elif case == "classes":
        from prunelimit.models.registry import build_model

        other = build_model("mlp", mnist1d.input_shape, 5, widths=[16, 8])
        torch.save(other.state_dict(), src)
    elif case == "nan":
        sd = new_model(E(EXP), mnist1d).state_dict()
        sd["net.3.weight"][0, 0] = float("nan")
        torch.save(sd, src)
    model_out, metrics_out = _outputs(tmp_path)
    with pytest.raises(WeightsError, match=re.escape(expect)) as err:
        import_experiment(E(EXP), "l1", 0, mnist1d, src, model_out, metrics_out)
    assert "experiment 'mine'" in str(err.value) and str(src) in str(err.value)
    if case == "classes":
        assert "10 classes" in str(err.value)
    assert not model_out.exists() and not metrics_out.exists()
