"""Typed settings: the one place of the config defaults, in step with the schema."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from prunelimit.config import ConfigError
from prunelimit.settings import (
    SECTIONS,
    EarlyBirdSettings,
    ExperimentSettings,
    RegionSettings,
    Settings,
    load_settings,
)
from prunelimit.training import TrainSettings

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


def test_no_defaults_in_the_schema():
    """Defaults live in the dataclasses only (the schema would silently duplicate them)."""
    assert "default:" not in SCHEMA_PATH.read_text()


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
