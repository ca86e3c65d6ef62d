"""Typed settings: the one place of the config defaults, in step with the schema."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from prunelimit.config.schema import ConfigError
from prunelimit.config.settings import (
    SECTIONS,
    EarlyBirdSettings,
    ExperimentSettings,
    RegionSettings,
    Settings,
    SplineSettings,
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
            want = {"experiments"} | names(EarlyBirdSettings) | names(RegionSettings)
        assert set(props[key]["properties"]) == want, key
    assert set(props["experiments"]["items"]["properties"]) == names(ExperimentSettings)
    assert set(SCHEMA["$defs"]["train"]["properties"]) == names(TrainSettings)


def _field_defaults(*classes) -> dict:
    """``{name: default}`` of the fields that have one (a factory's value for lists, dicts)."""
    out = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
    return out


ABSENT = (None, {}, [], ())  # an omitted key without a default: "not given"


def _sections():
    """(where, object schema, the dataclasses that hold its keys) of every config object."""
    props = SCHEMA["properties"]
    yield "top level", SCHEMA, (Settings,)
    for key, cls in SECTIONS.items():
        classes = (cls,) if key != "spline" else (SplineSettings, EarlyBirdSettings, RegionSettings)
        yield key, props[key], classes
    yield "experiments[]", props["experiments"]["items"], (ExperimentSettings,)
    yield "train", SCHEMA["$defs"]["train"], (TrainSettings,)


@pytest.mark.parametrize(("where", "obj", "classes"), list(_sections()))
def test_schema_defaults_are_the_dataclass_defaults(where, obj, classes):
    """The schema's `default`s (what config/README.md and the workflow catalog show) are the
    defaults the code applies, and every optional key without one means "not given"."""
    defaults = _field_defaults(*classes)
    required = set(obj.get("required", []))
    for name, prop in obj["properties"].items():
        assert not (name in required and "default" in prop), f"{where}.{name}: required"
        if name in required:
            continue
        assert name in defaults, f"{where}.{name}: optional in the schema, no default in code"
        code = defaults[name]
        code = list(code) if isinstance(code, tuple) else code
        if "default" in prop:
            assert prop["default"] == code, f"{where}.{name}: schema {prop['default']} != {code}"
            assert type(prop["default"]) is type(code), f"{where}.{name}: type differs"
        else:
            assert code in ABSENT, f"{where}.{name}: code default {code!r}, none in the schema"


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
