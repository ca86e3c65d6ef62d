"""The house rules a newcomer relies on: one script per rule named after it, modules at human
size, rule files headed by their stage."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RULES = sorted((REPO / "workflow" / "rules").glob("*.smk"))


def rule_scripts() -> dict[str, str | None]:
    out = {}
    for path in RULES:
        blocks = re.split(r"^rule (\w+):\n", path.read_text(), flags=re.M)[1:]
        for name, body in zip(blocks[::2], blocks[1::2], strict=True):
            m = re.search(r'script:\s*\n\s*"\.\./scripts/(\w+)\.py"', body.split("\n\n\n")[0])
            out[name] = m.group(1) if m else None
    return out


def test_every_rule_runs_the_script_named_after_it():
    scripts = rule_scripts()
    assert len(scripts) > 20
    for rule, script in scripts.items():
        assert script in (rule, None), f"rule {rule} runs scripts/{script}.py"
    on_disk = {p.stem for p in (REPO / "workflow" / "scripts").glob("*.py")} - {"_common"}
    assert on_disk == {s for s in scripts.values() if s}, "a script without its rule"


def test_modules_at_human_size():
    for path in (REPO / "src" / "prunelimit").rglob("*.py"):
        lines = len(path.read_text().splitlines())
        assert lines <= 400, f"{path.relative_to(REPO)} has {lines} lines"


def test_rule_files_are_headed_by_their_stage():
    for path in RULES:
        first = path.read_text().splitlines()[0]
        if path.stem != "common":
            assert re.match(r"# Stage \d[abc]?: ", first), f"{path.name}: {first}"
