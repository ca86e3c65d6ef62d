"""docs/figures.md against the workflow: every output it names is planned by the tiny config's
DAG (by the rule named beside it), or, on a row marked "paper-grid only", by config/paper.yaml's
DAG. Both DAGs come from dry runs (``--detailed-summary``: every output file of the DAG with
the rule that makes it); nothing is executed. About 10 s: the two plans run in parallel.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

DOC = REPO / "docs" / "figures.md"
CONFIGS = {"tiny": REPO / ".test" / "config.yaml", "paper": REPO / "config" / "paper.yaml"}
STATUSES = (
    "reproduced",
    "partly",
    "not reproduced yet",
    "schematic, not data",
    "settings, not data",
    "ours",
)
PAPER_ONLY = "paper-grid only"
# A produced file of the workflow (the rest of the Output column must be files of the repository)
OUTPUT_ROOTS = ("results/", "resources/", "logs/", "benchmarks/")


def table_rows(text: str) -> list[dict[str, str]]:
    """Every row of every Markdown table of ``text`` that has an Output column, as
    ``{lowercased header: cell}`` plus ``section`` (the heading above the table)."""
    rows, section, header = [], "", None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        if not line.startswith("|"):
            header = None
            continue
        # cells split at unescaped pipes (a pipe inside a cell, even in code, is written `\|`)
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if header is None:
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if re.fullmatch(r"\|(\s*:?-+:?\s*\|)+\s*", nxt):
                header = [c.lower() for c in cells]
            continue
        if set("".join(cells)) <= set("-: "):
            continue  # the separator row
        if "output" in header:
            assert len(cells) == len(header), f"{section}: row with {len(cells)} cells: {line}"
            rows.append({"section": section, **dict(zip(header, cells, strict=True))})
    return rows


def ticks(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def expand_braces(pattern: str) -> list[str]:
    """``a.{pdf,png}`` -> ``a.pdf``, ``a.png``; a wildcard ``{experiment}`` -> ``*``."""
    parts = re.split(r"(\{[^{}]*\})", pattern)
    choices = [
        (p[1:-1].split(",") if "," in p else ["*"]) if p.startswith("{") else [p] for p in parts
    ]
    return ["".join(c) for c in itertools.product(*choices)]


def problems(rows: list[dict[str, str]], planned: dict[str, dict[str, str]]) -> list[str]:
    """What is wrong with ``rows`` given ``planned`` = {config: {output file: rule}}."""
    found = []
    for row in rows:
        where = f"{row['section'][:40]} / {row.get('item', '?')}"
        status = row.get("status", "")
        if not status.startswith(STATUSES):
            found.append(f"{where}: status {status!r} is none of {STATUSES}")
        outputs = ticks(row["output"])
        rules = ticks(row.get("rule", ""))
        if status.startswith(("reproduced", "partly", "ours")) and not (outputs and rules):
            found.append(f"{where}: a reproduction must name its rule and output")
        config = "paper" if PAPER_ONLY in status else "tiny"
        for out in outputs:
            if not out.startswith(OUTPUT_ROOTS):
                if not (REPO / out).exists():
                    found.append(f"{where}: {out} is neither a workflow output nor a repo file")
                continue
            patterns = expand_braces(out)
            hits = {
                f: r
                for f, r in planned[config].items()
                if any(fnmatch.fnmatchcase(f, p) for p in patterns)
            }
            if not hits:
                hint = (
                    " (mark the row 'paper-grid only'?)"
                    if config == "tiny"
                    and any(fnmatch.fnmatchcase(f, p) for f in planned["paper"] for p in patterns)
                    else ""
                )
                found.append(f"{where}: nothing in the {config} DAG produces {out}{hint}")
            elif rules and not set(hits.values()) & set(rules):
                found.append(
                    f"{where}: {out} is made by {sorted(set(hits.values()))}, not by {rules}"
                )
    return found


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> dict[str, dict[str, str]]:
    """{config: {output file: rule}} of the whole DAG of each config, from dry runs."""
    exe = str(Path(sys.executable).with_name("snakemake"))
    procs = {}
    for name, configfile in CONFIGS.items():
        work = tmp_path_factory.mktemp(f"plan_{name}")
        cmd = [exe, "--snakefile", str(REPO / "workflow" / "Snakefile"), "--configfile",
               str(configfile), "--directory", str(work), "--detailed-summary"]  # fmt: skip
        procs[name] = subprocess.Popen(
            cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    plans = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        lines = out.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("output_file\t"))
        plans[name] = {
            cols[0]: cols[2]
            for cols in (line.split("\t") for line in lines[start + 1 :])
            if len(cols) > 2
        }
        assert plans[name], f"empty plan for {name}"
    return plans


def test_every_named_output_is_planned(planned):
    rows = table_rows(DOC.read_text())
    assert len({r["section"] for r in rows}) >= 6, "a table per paper and one of our own"
    assert not (found := problems(rows, planned)), "\n".join(found)


def test_every_report_figure_and_table_is_mapped(planned):
    """The other direction: every figure PNG and table CSV the tiny run makes is on the page."""
    named = [
        p for row in table_rows(DOC.read_text()) for out in ticks(row["output"])
        for p in expand_braces(out)
    ]  # fmt: skip
    shown = [
        f for f in planned["tiny"] if re.fullmatch(r"results/(figures/.*\.png|tables/.*\.csv)", f)
    ]
    missing = [f for f in shown if not any(fnmatch.fnmatchcase(f, p) for p in named)]
    assert not missing, f"not in docs/figures.md: {missing}"


def test_the_check_catches_a_wrong_row():
    """A row naming a file that nothing makes, a wrong rule, a paper-only file without the
    mark, or an unknown status is reported; a correct row is not."""
    planned = {
        "tiny": {"results/figures/limit_tiny_transition.png": "limit_figures"},
        "paper": {
            "results/figures/limit_cifar10_fc5_transition.png": "limit_figures",
            "results/tables/only_paper.csv": "paper_rule",
        },
    }

    def row(output, rule="`limit_figures`", status="reproduced"):
        return {"section": "s", "item": "i", "rule": rule, "output": output, "status": status}

    good = row("`results/figures/limit_{experiment}_transition.png`")
    assert problems([good], planned) == []
    assert problems([row("`results/figures/limit_{experiment}_nothing.png`")], planned)
    assert problems([row("`results/figures/limit_{experiment}_transition.png`", "`sap`")], planned)
    assert problems([row("`results/tables/only_paper.csv`", "`paper_rule`")], planned)
    marked = row("`results/tables/only_paper.csv`", "`paper_rule`", "reproduced, paper-grid only")
    assert problems([marked], planned) == []
    assert problems([row("`results/figures/limit_tiny_transition.png`", status="done")], planned)
    assert problems([row("—", rule="—")], planned)  # a reproduction without an output
    assert problems([row("`config/no_such_file.yaml`", "—", "settings, not data")], planned)
    # the real page parses into rows with every column
    rows = table_rows(DOC.read_text())
    assert rows and all({"item", "rule", "output", "status"} <= set(r) for r in rows)
