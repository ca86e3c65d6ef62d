"""The schema's defaults, read from the typed settings (:mod:`prunelimit.config.settings`, the
one source of every default): which settings hold the keys of each config object, and the
schema with each optional key's default filled in, as ``config/README.md`` shows it."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from dataclasses import MISSING
from typing import Any

from prunelimit.config.settings import (
    SECTIONS,
    AblationSettings,
    DatasetSettings,
    EarlyBirdSettings,
    ExperimentSettings,
    NodePruningSettings,
    RareGemsConfig,
    RegionSettings,
    Section,
    Settings,
    SmartRatioSettings,
    SplineSettings,
    TrainSettings,
)


def schema_objects(schema: dict) -> Iterator[tuple[str, dict, tuple[type[Section], ...]]]:
    """``(where, object schema, the dataclasses that hold its keys)`` of every config object
    whose keys have typed settings (the override blocks, ``l1_train`` and the ``hessian``
    overrides, have none: their keys are those of ``train`` and ``hessian``)."""
    props = schema["properties"]
    yield "top level", schema, (Settings,)
    for key, cls in SECTIONS.items():
        classes = (cls,) if key != "spline" else (SplineSettings, EarlyBirdSettings, RegionSettings)
        yield key, props[key], classes
    yield "sap.ablations", props["sap"]["properties"]["ablations"], (AblationSettings,)
    yield "spline.pruning", props["spline"]["properties"]["pruning"], (NodePruningSettings,)
    compare = props["compare"]["properties"]
    yield "compare.smart_ratio", compare["smart_ratio"], (SmartRatioSettings,)
    yield "compare.rare_gems", compare["rare_gems"], (RareGemsConfig,)
    yield "experiments[]", props["experiments"]["items"], (ExperimentSettings,)
    yield "datasets.<name>", props["datasets"]["additionalProperties"], (DatasetSettings,)
    yield "train", schema["$defs"]["train"], (TrainSettings,)


def field_defaults(*classes: type[Section]) -> dict[str, Any]:
    """``{name: default}`` of the fields of ``classes`` that have one."""
    out = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.default is not MISSING:
                out[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
            elif f.default_factory is not MISSING:
                out[f.name] = f.default_factory()
    return out


def with_defaults(schema: dict) -> dict:
    """A copy of ``schema`` whose optional keys carry the default of their setting (``default``),
    as the documentation shows them (an object's keys show their own); the schema file itself
    holds none."""
    schema = copy.deepcopy(schema)
    for _, obj, classes in schema_objects(schema):
        defaults = field_defaults(*classes)
        for name, prop in obj["properties"].items():
            nested = prop.get("type") == "object"  # its keys show their own defaults
            if name in defaults and name not in obj.get("required", []) and not nested:
                prop["default"] = defaults[name]
    return schema
