"""Typed settings: the one place of the config defaults, in step with the schema."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from prunelimit.config.defaults import field_defaults, schema_objects, with_defaults
from prunelimit.config.schema import ConfigError
from prunelimit.config.settings import (
    SECTIONS,
    AblationSettings,
    DatasetSettings,
    EarlyBirdSettings,
    ExperimentSettings,
    HessianSettings,
    RegionSettings,
    Settings,
    TrainSettings,
)
from prunelimit.config.validate import load_settings

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_every_schema_key_has_a_typed_setting_and_back():
    props = SCHEMA["properties"]
    assert set(props) == names(Settings)
    for key, cls in SECTIONS.items():
        want = names(cls)
        if key == "spline":
            want = {"experiments", "pruning"} | names(EarlyBirdSettings) | names(RegionSettings)
        assert set(props[key]["properties"]) == want, key
    assert set(props["experiments"]["items"]["properties"]) == names(ExperimentSettings)
    assert set(SCHEMA["$defs"]["train"]["properties"]) == names(TrainSettings)
    assert set(props["sap"]["properties"]["ablations"]["properties"]) == names(AblationSettings)
    assert set(props["datasets"]["additionalProperties"]["properties"]) == names(DatasetSettings)


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_the_schema_holds_no_defaults():
    """Defaults have one source, the typed settings; the schema holds meanings and ranges."""
    assert not [n for n in _walk(SCHEMA) if "default" in n and isinstance(n.get("default"), object)
                and "description" in n]  # fmt: skip


@pytest.mark.parametrize(("where", "obj", "classes"), list(schema_objects(SCHEMA)))
def test_a_key_is_required_exactly_when_its_setting_has_no_default(where, obj, classes):
    defaults = field_defaults(*classes)
    for name in obj["properties"]:
        required = name in obj.get("required", [])
        assert required == (name not in defaults), f"{where}.{name}: required {required}"


def test_the_documentation_shows_the_settings_defaults():
    documented = with_defaults(SCHEMA)
    hessian = documented["properties"]["hessian"]["properties"]
    assert hessian["rows"]["default"] == HessianSettings().rows == 100
    assert "default" not in documented["properties"]["data"]["properties"]["val_fraction"]
    assert "default" not in SCHEMA["properties"]["hessian"]["properties"]["rows"]


def test_optional_keys_get_their_defaults():
    cfg = copy.deepcopy(DEFAULT)
    for key in ("lanczos_block", "max_lanczos_steps"):
        cfg["hessian"].pop(key)
    for key in ("grid", "margin", "threshold", "window", "report_thresholds", "hessian"):
        cfg["spline"].pop(key)
    cfg.pop("threads_per_job")
    s = load_settings(cfg, SCHEMA_PATH)
    assert (s.hessian.lanczos_block, s.hessian.max_lanczos_steps) == (40, 480)
    assert s.limit.rho_min == 0.0005 and s.theory.convergence_tol == 0.005
    eb = s.spline.early_bird
    assert (eb.grid, eb.margin, eb.threshold, eb.window) == (100, 0.25, 0.16, 3)
    assert eb.report_thresholds == [0.1, 0.05, 0.02] and eb.hessian == {}
    assert s.threads_per_job == 1
    assert s.spline.regions.densities == DEFAULT["spline"]["densities"]


def test_experiment_overrides_and_round_trip():
    s = load_settings(copy.deepcopy(DEFAULT), SCHEMA_PATH)
    h = s.hessian_for("fc5")
    assert (h.samples, h.probes, h.batch_size) == (1800, 2, DEFAULT["hessian"]["batch_size"])
    assert s.hessian_for("mlp") == s.hessian
    assert type(s.limit).from_dict(s.limit.as_dict()) == s.limit
    assert type(s.spline).from_dict(DEFAULT["spline"]) == s.spline


def test_bad_config_fails_in_one_pass_naming_the_key():
    cfg = copy.deepcopy(DEFAULT)
    cfg["limit"]["resolution"] = "fine"
    with pytest.raises(ConfigError, match=r"limit.resolution"):
        load_settings(cfg, SCHEMA_PATH)
    with pytest.raises(ValueError, match="unknown keys"):
        type(load_settings(DEFAULT, SCHEMA_PATH).limit).from_dict({"resolutoin": 0.1})
