"""What the Snakemake workflow catalog reads (.snakemake-workflow-catalog.yml, in its current
keys) and the report's front page (workflow/report/workflow.rst), rendered as `snakemake
--report` renders it, without a run."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import yaml
from docutils.core import publish_parts
from jinja2 import Environment

from conftest import REPO

CATALOG = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
FRONT = (REPO / "workflow" / "report" / "workflow.rst").read_text()


def test_catalog_uses_the_current_keys():
    usage = CATALOG["usage"]
    assert set(usage) <= {"mandatory-flags", "software-stack-deployment", "report"}
    deployment = usage["software-stack-deployment"]
    assert set(deployment) <= {"conda", "apptainer", "apptainer+conda"}
    assert "singularity" not in (REPO / ".snakemake-workflow-catalog.yml").read_text()
    assert usage["report"] is True
    assert 'report: "report/workflow.rst"' in (REPO / "workflow" / "Snakefile").read_text()
    # conda: true promises `--sdm conda`: every rule that runs a script has its conda env
    assert deployment["conda"] is True
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for body in re.split(r"^rule \w+:\n", path.read_text(), flags=re.M)[1:]:
            body = body.split("\n\n\n")[0]
            assert "script:" not in body or "conda:" in body, path.name
    # apptainer: true would promise a `container:` image
    if deployment.get("apptainer") or deployment.get("apptainer+conda"):
        assert "container:" in (REPO / "workflow" / "Snakefile").read_text()


class _Record:
    """What `snakemake --report` passes the front page as `files` (target, path)."""

    def __init__(self, path: Path):
        self.path, self.target = path, path.name


class _Snakemake:
    config = {"experiments": [{"name": "a"}, {"name": "b"}], "seeds": [0, 1], "device": "cpu"}


def _front_page(files: list) -> str:
    env = Environment(trim_blocks=True, lstrip_blocks=True)  # as snakemake.report
    text = env.from_string(FRONT).render(snakemake=_Snakemake, categories={}, files=files)
    text += "\n\n.. _limits.csv: limits.csv\n"  # snakemake appends the files' link targets
    return publish_parts(text, writer="html", settings_overrides={"halt_level": 2})["body"]


def test_front_page_shows_the_headline_numbers(tmp_path: Path):
    cols = ["rho_th", "rho_loss", "relgap_loss", "rho_objective", "relgap_objective"]
    cols += ["rho_acc", "relgap_acc"]
    rows = []
    for name, base in (("a", 10.0), ("b", 20.0)):
        row = {"experiment": name, "dataset": "mnist1d", "model": "mlp", "D": 100, "seeds": 2}
        for i, c in enumerate(cols):
            row[f"{c}_mean"], row[f"{c}_std"] = base + i + 0.123, 0.456 + i
        rows.append(row)
    rows[1]["rho_acc_mean"] = float("nan")  # a missing value is shown as missing
    csv = tmp_path / "results" / "tables" / "limits.csv"
    csv.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(csv, index=False)
    html = _front_page([_Record(tmp_path / "results" / "tables" / "spectra.csv"), _Record(csv)])
    cells = re.findall(r"<td>(.*?)</td>", html.split("Headline")[1])
    assert len(cells) == 20
    assert "a" in cells[0] and cells[1] == "mnist1d / mlp" and cells[2] == "2"
    assert cells[3:10] == [f"{10 + i + 0.123:.2f} ± {0.456 + i:.2f}" for i in range(7)]
    assert cells[18] == "n/a" and cells[19] == f"{20 + 6 + 0.123:.2f} ± {6.456:.2f}"


def test_front_page_without_results_has_no_headline():
    html = _front_page([])
    assert "Headline" not in html and "<table" not in html
    assert "2 experiment(s)" in html
