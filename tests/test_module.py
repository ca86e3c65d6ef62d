"""The workflow is usable as a Snakemake module by another workflow: from a local path, and
loaded from a URL as a deployed module is (snakedeploy writes `github(...)`)."""

import shutil
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import REPO, job_counts, run_snakemake

pytestmark = pytest.mark.slow

OUTER = """\
configfile: "config.yaml"


module prunelimit:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from prunelimit as prunelimit_*
"""


def test_module_plans_the_whole_workflow(tmp_path: Path):
    outer = tmp_path / "outer"
    outer.mkdir()
    (outer / "Snakefile").write_text(OUTER.format(snakefile=REPO / "workflow" / "Snakefile"))
    shutil.copy(REPO / ".test" / "config.yaml", outer / "config.yaml")
    exe = Path(sys.executable).with_name("snakemake")
    proc = subprocess.run(
        [str(exe), "-n", "--cores", "1"], cwd=outer, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    planned = job_counts(proc.stdout)
    for rule in ["all", "download", "train", "spectrum", "theory", "actual_limit", "limits_table"]:
        assert planned.get(f"prunelimit_{rule}", 0) >= 1, f"prunelimit_{rule} not planned"

    # The same jobs as the workflow run directly on the same config, only the rules prefixed.
    direct_dir = tmp_path / "direct"
    direct_dir.mkdir()
    shutil.copy(REPO / ".test" / "config.yaml", direct_dir / "config.yaml")
    direct = run_snakemake(
        "-n",
        "--cores",
        "1",
        "--configfile",
        str(direct_dir / "config.yaml"),
        "--directory",
        str(direct_dir),
        timeout=600,
    )
    assert direct.returncode == 0, direct.stdout[-3000:] + direct.stderr[-3000:]
    assert planned == {f"prunelimit_{rule}": n for rule, n in job_counts(direct.stdout).items()}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_module_loaded_from_a_url_runs_its_scripts(tmp_path: Path):
    """A module loaded from a URL has each file cached apart: its scripts still find their
    helper (`_common.py`), and the library comes from the install."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(REPO)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/workflow/Snakefile"
        (tmp_path / "Snakefile").write_text(OUTER.format(snakefile=url))
        shutil.copy(REPO / ".test" / "config.yaml", tmp_path / "config.yaml")
        exe = Path(sys.executable).with_name("snakemake")
        proc = subprocess.run(
            [str(exe), "--cores", "1", "resources/datasets/mnist1d.pt"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "prunelimit_download" in proc.stdout + proc.stderr
    assert (tmp_path / "resources" / "datasets" / "mnist1d.pt").stat().st_size > 0
