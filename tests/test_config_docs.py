"""The schema is the one source of every config key's meaning and default, and
config/README.md's key tables are what `python -m prunelimit.config.docs` writes from it."""

from __future__ import annotations

import copy

import pytest

from conftest import REPO
from prunelimit.config import docs as config_docs
from prunelimit.config.defaults import with_defaults
from prunelimit.config.docs import load_schema, render, rows, type_text, undocumented

SCHEMA = with_defaults(load_schema(REPO / config_docs.SCHEMA))  # as the generator reads it
README = REPO / config_docs.README


def test_every_schema_property_has_a_description():
    assert undocumented(SCHEMA) == []
    assert len(list(config_docs.walk_properties(SCHEMA))) > 100  # nested ones are walked too


def test_config_readme_is_what_the_generator_writes():
    text = README.read_text()
    assert text == render(text, SCHEMA), "run: python -m prunelimit.config.docs"
    assert (
        config_docs.main(
            ["--check", "--readme", str(README), "--schema", str(REPO / config_docs.SCHEMA)]
        )
        == 0
    )


def test_every_key_has_its_row_once():
    text = README.read_text()
    tables = text.split(config_docs.BEGIN)[1].split(config_docs.END)[0]
    for section in ("data", "hessian", "theory", "limit", "sap", "compare", "ntk", "spline"):
        assert f"## `{section}`" in tables
        for key in SCHEMA["properties"][section]["properties"]:
            assert tables.count(f"| `{key}` |") >= 1, f"{section}.{key}"
    item = SCHEMA["properties"]["experiments"]["items"]
    keys = [r[0] for r in rows(item, SCHEMA)]
    assert "`train.plateau_atol`" in keys and "`model_args.widths`" in keys
    assert len(keys) == len(set(keys))
    # overrides are one row naming their keys, not a second copy of each key
    assert not any(k.startswith("`l1_train.") or k.startswith("`hessian.") for k in keys)
    l1_train = next(r for r in rows(item, SCHEMA) if r[0] == "`l1_train`")
    assert "`warmup_epochs`" in l1_train[3]


def test_rows_render_types_ranges_and_defaults():
    row = {r[0]: r for r in rows(SCHEMA["properties"]["hessian"], SCHEMA)}
    assert row["`lanczos_steps`"][1:3] == ("int >= 2 or `auto`", '`"auto"`')
    data = {r[0]: r for r in rows(SCHEMA["properties"]["data"], SCHEMA)}
    assert data["`val_fraction`"][2] == "required"
    assert row["`memory_gb`"][1:3] == ("number > 0 or `auto`", "`16.0`")
    assert row["`basis_memory_gb`"][1:3] == ("number >= 0 or null", "`null`")
    assert row["`lanczos_block`"][2] == "`40`"
    theory = {r[0]: r for r in rows(SCHEMA["properties"]["theory"], SCHEMA)}
    assert "\\|rho_th(m) - rho_th(m/2)\\|" in theory["`convergence_tol`"][3]  # pipes escaped
    assert type_text({"type": "number", "exclusiveMinimum": 0, "maximum": 1}, SCHEMA) == (
        "number in (0, 1]"
    )


def test_a_changed_schema_changes_the_tables():
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["limit"]["properties"]["rho_min"]["default"] = 0.01
    text = README.read_text()
    assert render(text, schema) != text
    schema["properties"]["limit"]["properties"]["rho_min"].pop("description")
    assert undocumented(schema) == ["limit.rho_min"]
    with pytest.raises(ValueError, match="markers"):
        render("no markers", SCHEMA)


def test_lists_and_maps_of_objects_are_sections():
    schema = {
        "required": ["runs"],
        "properties": {
            "seed": {"type": "integer", "minimum": 0, "default": 0, "description": "a seed"},
            "runs": {
                "type": "array",
                "description": "one per run",
                "items": {"properties": {"n": {"type": "integer", "description": "size"}}},
            },
            "data": {
                "type": "object",
                "default": {},
                "description": "your own data, by name",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "shape": {
                            "type": "array",
                            "minItems": 2,
                            "maxItems": 2,
                            "items": {"type": "integer"},
                            "description": "H, W",
                        },
                        "file": {"type": "string"},
                    },
                },
            },
        },
    }
    assert undocumented(schema) == ["data.<name>.file"]
    text = config_docs.tables(schema)
    assert "| `seed` | int >= 0 | `0` | a seed |" in text
    assert (
        "## `runs` (list)\n\nOne per run.\n\n" in text and "| `n` | int | optional | size |" in text
    )
    assert "## `data` (by name)\n\nYour own data, by name (optional; default `{}`)." in text
    assert "| `<name>.shape` | list of 2: int | optional | H, W |" in text
