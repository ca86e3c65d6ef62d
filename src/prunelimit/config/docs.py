"""The key tables of ``config/README.md``, generated from the config schema and the settings.

The schema (``workflow/schemas/config.schema.yaml``) is the one source of every key's meaning
(its ``description``), type and range, the typed settings (:mod:`prunelimit.config.settings`)
of every default (:func:`~prunelimit.config.defaults.with_defaults`); the Snakemake workflow
catalog renders its parameter table from the schema. This module writes one Markdown table per
config section between the two markers of ``config/README.md`` (the prose around them is written by
hand):

    python -m prunelimit.config.docs           # rewrite the tables (from the repository root)
    python -m prunelimit.config.docs --check   # fail when they are out of date

A section is a top-level key whose value is an object, a list of objects (``experiments``) or a
map of names to objects (rows ``<name>.key``); the other top-level keys form the "Top level"
table. Nested objects get a row
of their own and one row per key (``train.epochs``), except objects whose keys all ``$ref`` the
keys they override (``l1_train``, an experiment's ``hessian``): one row that names their keys.
Types and ranges are rendered from the schema's constraints; the default column says
``required``, the default, or ``optional`` (absent means "not given").
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prunelimit.config.defaults import with_defaults
from prunelimit.config.schema import SCHEMA, load_schema

README = Path("config/README.md")
BEGIN = (
    "<!-- BEGIN key tables: generated from workflow/schemas/config.schema.yaml by "
    "`python -m prunelimit.config.docs`; edit the schema, not these tables -->"
)
END = "<!-- END key tables -->"
HEADER = "| key | type | default | meaning |\n|---|---|---|---|"


def pointer(schema: dict, ref: str) -> dict:
    """The node a local ``$ref`` (``#/$defs/train/properties/epochs``) points to."""
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, not {ref!r}")
    node: Any = schema
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def resolve(node: dict, schema: dict) -> dict:
    """``node`` with its ``$ref`` chain merged in (the node's own keywords win)."""
    if "$ref" not in node:
        return node
    target = resolve(pointer(schema, node["$ref"]), schema)
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def walk_properties(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every property of the schema, nested ones too (in ``$defs``, ``items``, ``oneOf``), as
    ``(path, node)`` with the node as written (``$ref`` unresolved)."""
    if isinstance(node, list):
        for i, child in enumerate(node):
            yield from walk_properties(child, f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    for key, child in node.items():
        if key == "properties" and isinstance(child, dict):
            for name, prop in child.items():
                here = f"{path}.{name}" if path else name
                yield here, prop
                yield from walk_properties(prop, here)
        elif key == "items":
            yield from walk_properties(child, f"{path}[]")
        elif key == "additionalProperties" and isinstance(child, dict):
            yield from walk_properties(child, f"{path}.<name>")
        elif key == "patternProperties":
            for pattern, sub in child.items():
                yield from walk_properties(sub, f"{path}.<{pattern}>")
        elif key == "$defs":
            for name, sub in child.items():
                yield from walk_properties(sub, f"$defs.{name}")
        elif key in ("oneOf", "anyOf", "allOf"):
            yield from walk_properties(child, path)


def undocumented(schema: dict) -> list[str]:
    """Paths of the properties without a ``description`` of their own."""
    return [
        p for p, node in walk_properties(schema) if not str(node.get("description", "")).strip()
    ]


def _num(value: float) -> str:
    return json.dumps(value)


def _range(name: str, node: dict) -> str:
    lo_in, lo_ex = node.get("minimum"), node.get("exclusiveMinimum")
    hi_in, hi_ex = node.get("maximum"), node.get("exclusiveMaximum")
    lo = (
        (lo_in, "[", ">=")
        if lo_in is not None
        else (lo_ex, "(", ">")
        if lo_ex is not None
        else None
    )
    hi = (
        (hi_in, "]", "<=")
        if hi_in is not None
        else (hi_ex, ")", "<")
        if hi_ex is not None
        else None
    )
    if lo and hi:
        return f"{name} in {lo[1]}{_num(lo[0])}, {_num(hi[0])}{hi[1]}"
    if lo:
        return f"{name} {lo[2]} {_num(lo[0])}"
    if hi:
        return f"{name} {hi[2]} {_num(hi[0])}"
    return name


def _one_type(kind: str, node: dict, schema: dict) -> str:
    if kind == "integer":
        return _range("int", node)
    if kind == "number":
        return _range("number", node)
    if kind == "boolean":
        return "bool"
    if kind == "null":
        return "null"
    if kind == "string":
        if "pattern" in node:
            return f"string matching `{node['pattern']}`"
        return "non-empty string" if node.get("minLength", 0) >= 1 else "string"
    if kind == "array":
        items = f" of {type_text(node['items'], schema)}" if "items" in node else ""
        low, high = node.get("minItems", 0), node.get("maxItems")
        if low == high:
            text = f"list of {low}{items.replace(' of ', ': ', 1)}"
        elif low > 1:
            text = f"list of at least {low}{items.replace(' of ', ': ', 1)}"
        else:
            text = ("non-empty " if low == 1 else "") + f"list{items}"
        return text + (", no repeats" if node.get("uniqueItems") else "")
    return kind


def type_text(node: dict, schema: dict) -> str:
    """The type and range of a property in words (``int >= 1``, ``number in (0, 1]``)."""
    node = resolve(node, schema)
    for combinator in ("oneOf", "anyOf"):
        if combinator in node:
            return " or ".join(type_text(alt, schema) for alt in node[combinator])
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return ", ".join(f"`{v}`" for v in node["enum"])
    kinds = node.get("type", "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return " or ".join(_one_type(kind, node, schema) for kind in kinds)


def default_text(node: dict, required: bool) -> str:
    if required:
        return "required"
    if "default" in node:
        return f"`{json.dumps(node['default'])}`"
    return "optional"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def rows(obj: dict, schema: dict, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """``(key, type, default, meaning)`` of every key of an object schema, nested ones after
    their object."""
    out = []
    required = set(obj.get("required", []))
    for name, raw in obj.get("properties", {}).items():
        node = resolve(raw, schema)
        key = f"{prefix}{name}"
        meaning = node.get("description", "")
        children = node.get("properties", {})
        overrides = bool(children) and all("$ref" in c for c in children.values())
        if overrides:
            meaning = meaning.rstrip(".") + ". Keys: " + ", ".join(f"`{k}`" for k in children) + "."
        row = (f"`{key}`", type_text(raw, schema), default_text(node, name in required), meaning)
        out.append(tuple(_cell(c) for c in row))
        if children and not overrides:
            out.extend(rows(node, schema, f"{key}."))
    return out


def _table(table_rows: list[tuple[str, str, str, str]]) -> str:
    return "\n".join([HEADER, *("| " + " | ".join(r) + " |" for r in table_rows)])


def _section_object(node: dict, schema: dict) -> tuple[dict, str, str] | None:
    """``(object schema, key prefix, kind)`` of a section: an object, a list of objects
    (``experiments``: its items) or a map of names to objects (its entries: ``<name>.key``);
    None for a plain key."""
    node = resolve(node, schema)
    if node.get("type") == "array" and "items" in node:
        items = resolve(node["items"], schema)
        return (items, "", " (list)") if "properties" in items else None
    if "properties" in node:
        return node, "", ""
    entry = node.get("additionalProperties")
    if isinstance(entry, dict) and "properties" in resolve(entry, schema):
        return resolve(entry, schema), "<name>.", " (by name)"
    return None


def tables(schema: dict) -> str:
    """The generated part of config/README.md: the top-level table, then one per section."""
    props = schema["properties"]
    top = {k: v for k, v in props.items() if _section_object(v, schema) is None}
    top_obj = {"properties": top, "required": schema.get("required", [])}
    parts = ["## Top level", _table(rows(top_obj, schema))]
    for name, node in props.items():
        section = _section_object(node, schema)
        if section is None:
            continue
        obj, prefix, kind = section
        node = resolve(node, schema)
        parts.append(f"## `{name}`{kind}")
        text = " ".join(node.get("description", "").split()).rstrip(".")
        if name not in schema.get("required", []):
            text += (
                f" (optional; default `{json.dumps(node['default'])}`)" if "default" in node else ""
            )
        if text:
            parts.append(text[0].upper() + text[1:] + ".")
        parts.append(_table(rows(obj, schema, prefix)))
    return "\n\n".join(parts)


def render(readme: str, schema: dict) -> str:
    """``readme`` with the text between the markers replaced by the generated tables."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise ValueError(f"config/README.md needs the markers once each:\n{BEGIN}\n{END}")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n\n{tables(schema)}\n\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schema", type=Path, default=SCHEMA, help="the config schema")
    ap.add_argument("--readme", type=Path, default=README, help="the README rewritten")
    ap.add_argument("--check", action="store_true", help="fail if --readme is not up to date")
    args = ap.parse_args(argv)
    current = args.readme.read_text()
    schema = load_schema(args.schema)
    if missing := undocumented(schema):
        print(f"{args.schema}: properties without a description: {', '.join(missing)}")
        return 1
    wanted = render(current, with_defaults(schema))
    if args.check:
        if current != wanted:
            print(f"{args.readme} is out of date: run python -m prunelimit.config.docs")
            return 1
        print(f"{args.readme} is up to date")
        return 0
    args.readme.write_text(wanted)
    print(f"wrote {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
