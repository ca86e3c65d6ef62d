"""The conda env files are self-contained and pinned to envs/requirements.lock.

Snakemake ships only a rule's env file with its job, so the pins are written out in the env
files; the lock stays the source of truth and these tests keep the copies from drifting.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

ENVS = REPO / "envs"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")

# What the table and figure scripts import (Jinja2: pandas' to_latex; tabulate: to_markdown).
RESULTS_NEEDS = {
    "numpy",
    "pandas",
    "matplotlib",
    "seaborn",
    "scipy",
    "pyyaml",
    "tabulate",
    "jinja2",
}


def canonical(name: str) -> str:
    """A package name as pip compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(lines: list[str], where: str) -> dict[str, str]:
    """``{canonical name: version}`` of ``name==version`` lines; anything else is an error."""
    pins: dict[str, str] = {}
    for line in lines:
        m = PIN.match(line.strip())
        assert m, f"{where}: not an exact pin: {line!r}"
        name = canonical(m[1])
        assert name not in pins, f"{where}: {m[1]} pinned twice"
        pins[name] = m[2]
    return pins


def lock_pins() -> dict[str, str]:
    lines = (ENVS / "requirements.lock").read_text().splitlines()
    return parse_pins([s for s in lines if s.strip() and not s.lstrip().startswith("#")], "lock")


def env_file(name: str) -> tuple[list, dict[str, str]]:
    """The conda dependencies of ``envs/<name>`` and the pins of its pip section."""
    env = yaml.safe_load((ENVS / name).read_text())
    deps = env["dependencies"]
    pip = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, f"{name}: expected one pip section"
    for line in pip[0]:
        assert not line.lstrip().startswith("-"), f"{name}: pip option {line!r} (not shipped)"
    return deps, parse_pins(pip[0], name)


@pytest.mark.parametrize("name", ["environment.yaml", "results.yaml"])
def test_env_file_is_self_contained(name):
    deps, _ = env_file(name)
    conda = [d for d in deps if isinstance(d, str)]
    assert "python=3.11" in conda and "pip" in conda


def test_environment_pins_equal_lock():
    _, pins = env_file("environment.yaml")
    lock = lock_pins()
    missing = {n: v for n, v in lock.items() if pins.get(n) != v}
    extra = sorted(set(pins) - set(lock))
    assert not missing and not extra, (
        f"envs/environment.yaml differs from envs/requirements.lock: "
        f"missing or other version {missing}, not in the lock {extra}; "
        "copy the lock's lines into its pip section"
    )


def test_results_env_pins_from_lock():
    _, pins = env_file("results.yaml")
    lock = lock_pins()
    wrong = {n: (v, lock.get(n)) for n, v in pins.items() if lock.get(n) != v}
    assert not wrong, f"envs/results.yaml: (pin, lock) differ: {wrong}"
    assert RESULTS_NEEDS <= set(pins), f"missing {sorted(RESULTS_NEEDS - set(pins))}"
    assert not {"torch", "torchvision"} & set(pins)


# Imports each script's top-level imports with every module blocked whose distribution is not in
# the allowed set (stdlib, the library and the scripts' _common are always allowed); prints the
# scripts whose imports failed, and why.
IMPORT_CHECK = """
import ast, sys
from importlib.metadata import packages_distributions

allowed, src, scripts, targets = set(sys.argv[1].split(",")), sys.argv[2], sys.argv[3], sys.argv[4:]
sys.path[:0] = [src, scripts]
dists = packages_distributions()
canon = lambda n: n.replace("_", "-").replace(".", "-").lower()

class Block:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in ("prunelimit", "_common"):
            return None
        owners = {canon(d) for d in dists.get(top, [])}  # none: stdlib or built-in
        if owners and not owners & allowed:
            raise ImportError(f"{name} is not in envs/results.yaml")
        return None

sys.meta_path.insert(0, Block())
failed = 0
for script in targets:  # one process: a blocked package never enters sys.modules
    tree = ast.parse(open(script).read())
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    try:
        exec(compile(ast.Module(imports, []), script, "exec"), {"__file__": script})
    except Exception as err:
        failed += 1
        print(f"{script}: {type(err).__name__}: {err}")
sys.exit(1 if failed else 0)
"""


def rules_with_env(env: str) -> list[tuple[str, Path]]:
    """``(rule, script)`` of every rule whose ``conda:`` is ``envs/<env>``."""
    found = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        for block in re.split(r"^(?=(?:rule|checkpoint) \w+:)", text, flags=re.M)[1:]:
            name = re.match(r"(?:rule|checkpoint) (\w+):", block)[1]
            conda = re.search(r"^\s+conda:\s*\"([^\"]+)\"", block, re.M)
            script = re.search(r"^\s+script:\s*\"([^\"]+)\"", block, re.M)
            if conda and (smk.parent / conda[1]).resolve() == (ENVS / env).resolve():
                assert script, f"rule {name} uses envs/{env} without a script"
                found.append((name, (smk.parent / script[1]).resolve()))
    return found


def test_results_env_has_what_its_scripts_import():
    rules = rules_with_env("results.yaml")
    assert len(rules) > 10
    _, pins = env_file("results.yaml")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            IMPORT_CHECK,
            ",".join(pins),
            str(REPO / "src"),
            str(REPO / "workflow" / "scripts"),
            *(str(script) for _, script in rules),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
