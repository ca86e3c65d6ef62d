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


# The library's floors, from the ground up: a module imports only from its own floor or the
# floors below it, and no modules or packages import each other round in a circle. The papers
# sit on the shared mechanisms; the spline stage reads the limit paper's limits; tables and
# figures read results; the workflow's glue and the API call everything; benchmarks on top.
FLOORS = (
    ("io", "runtime", "pruning", "guard", "usage", "forkserver"),  # files, devices, masks; the
    # CUDA guard; what a job used; the local run's fork server
    ("data", "curvature", "models"),  # datasets, the Hessian operator and Lanczos, networks
    ("config", "partition"),  # settings and their validation; ReLU partition codes
    ("training",),  # the one training loop, its verdicts, weights trained elsewhere
    ("limit", "sap", "ntk", "regions"),  # the papers
    ("spline", "methods"),  # spline early birds (with the limits at the early bird); the
    # pruning methods' registry, the at-init methods and their driver
    ("tables", "plotting"),  # results, no torch
    ("experiment", "api"),  # the workflow's glue, the Python API
    ("bench", "__init__"),  # benchmarks; the package's lazy face
)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (anywhere in the file, also inside a function
    or under TYPE_CHECKING), read from the source with ``ast``."""
    import ast

    root = REPO / "src"
    modules = {
        ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
        for p in (root / "prunelimit").rglob("*.py")
    }
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
        graph[name] = {t for t in targets if t in modules and t != name}
        # a package's own face is not an import of it by its submodules' parent
        graph[name] -= {p for p in graph[name] if name.startswith(p + ".")}
    return graph


def unit(module: str) -> str:
    """The top-level module or package of ``prunelimit`` a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_module_stands_on_a_floor():
    placed = [u for floor in FLOORS for u in floor]
    assert len(placed) == len(set(placed))
    assert {unit(m) for m in import_graph()} == set(placed)


def test_no_import_runs_up_a_floor():
    floor = {u: i for i, units in enumerate(FLOORS) for u in units}
    upward = sorted(
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        for b in targets
        if floor[unit(b)] > floor[unit(a)]
    )
    assert not upward, "imports from a lower floor to a higher one:\n" + "\n".join(upward)


def test_no_import_circles_among_modules_or_packages():
    graph = import_graph()
    assert not circles(graph), f"modules importing each other round: {circles(graph)}"
    packages: dict[str, set[str]] = {}
    for a, targets in graph.items():
        packages.setdefault(unit(a), set()).update(unit(b) for b in targets if unit(b) != unit(a))
    assert not circles(packages), f"packages importing each other round: {circles(packages)}"


def test_the_architecture_document_names_every_rule_and_module():
    """docs/architecture.md says where each rule's work is done and what each module holds."""
    text = (REPO / "docs" / "architecture.md").read_text()
    rules = re.findall(
        r"^(?:use )?rule (\w+)(?::| as (\w+))", "\n".join(p.read_text() for p in RULES), re.M
    )
    names = {b or a for a, b in rules}
    assert len(names) > 30
    assert not sorted(n for n in names if f"`{n}`" not in text), "rules missing from the DAG table"
    files = [p.name for p in RULES if p.stem != "common"]
    assert not [f for f in files if f"`{f}`" not in text], "rule files missing"
    modules = {m.removeprefix("prunelimit.") for m in import_graph()} - {"prunelimit"}
    leaves = {m.rsplit(".", 1)[-1] for m in modules}
    named = set(re.findall(r"`(?:[\w.]+\.)?(\w+)/?`", text))
    assert not sorted(leaves - named), "modules missing from the floors table"


def test_a_module_run_as_a_program_defines_everything_first():
    """``if __name__ == "__main__":`` is a module's last statement: ``python -m`` runs it as
    the module loads, and a function defined below it does not exist yet (``python -m
    prunelimit.bench.memory`` stopped with a NameError that its import-based test never saw)."""
    import ast

    for path in (REPO / "src" / "prunelimit").rglob("*.py"):
        body = ast.parse(path.read_text()).body
        mains = [i for i, node in enumerate(body) if "__main__" in ast.unparse(node)[:40]]
        mains = [i for i in mains if isinstance(body[i], ast.If)]
        assert mains in ([], [len(body) - 1]), f"{path.relative_to(REPO)}: code after __main__"
