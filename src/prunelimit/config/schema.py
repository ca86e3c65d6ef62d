"""The config schema and its errors, each naming the offending key.

The JSON schema (``workflow/schemas/config.schema.yaml``, :data:`SCHEMA` in a checkout of the
repository) is the one source of every key's meaning, type and range;
:func:`schema_problems` turns its validation errors into messages that name the key.
The cross-references a schema cannot express are :mod:`prunelimit.config.checks`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import jsonschema
import yaml

# The schema in a checkout of the repository (the workflow passes its own copy, which is this
# file, also when it is loaded as a module from a URL).
SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The config is invalid; the message names the key and the allowed values."""


def _key(path: Iterable) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _message(err: jsonschema.ValidationError) -> str:
    key = _key(err.absolute_path)
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        where = f"{key}." if key != "<top level>" else ""
        return f"missing config key {where}{missing}"
    if err.validator == "enum":
        allowed = ", ".join(map(str, err.validator_value))
        return f"config key {key}: {err.instance!r} is not allowed; allowed values: {allowed}"
    if err.validator == "anyOf":  # a name from a list, or a string of a given form
        forms = []
        for sub in err.validator_value:
            if "enum" in sub:
                forms.append(", ".join(map(str, sub["enum"])))
            elif "pattern" in sub:
                forms.append(
                    "or an import path 'package.module:Name'"
                    if ":" in sub["pattern"]
                    else f"or a string matching {sub['pattern']}"
                )
        return f"config key {key}: {err.instance!r} is not allowed; allowed values: " + " ".join(
            forms
        )
    return f"config key {key}: {err.message}"


def load_schema(path: str | Path = SCHEMA) -> dict:
    """The schema at ``path`` (default: the repository's)."""
    with open(path) as fh:
        return yaml.safe_load(fh)


def schema_problems(config: dict, schema: dict) -> list[str]:
    """Every violation of ``schema`` by ``config``, as messages naming the key."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    return [_message(e) for e in errors]


def raise_problems(problems: list[str]) -> None:
    """Raise one :class:`ConfigError` listing ``problems`` (one per line), if there are any."""
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
