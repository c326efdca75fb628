"""The code's shape, checked: no import cycles, no module over 400 lines, layers that point one way, and
development tools that neither the production worker nor the Docker image load (README: Architecture).

The import graph is read from the source with ``ast`` (imports inside functions included, ``if
TYPE_CHECKING:`` blocks left out): an edge goes to the module imported, not to the packages above it, so a
package's ``__init__`` that re-exports its submodules is not a cycle."""

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("o2c", "workflows", "activities", "workers", "models")
MAX_LINES = 400
# Alembic revisions are the schema's recorded history, written once and never edited: not code to split.
NOT_SIZED = ("o2c.migrations.versions.",)
DEVTOOLS = "o2c.devtools"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top in PRODUCT:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "__pycache__" not in path.parts:
                found[module_name(path)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _import_nodes_of(other)
            continue
        yield from _import_nodes_of(child)


def _import_nodes_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    yield from _import_nodes(node)


def imported_names(name: str) -> set[str]:
    """Every module name ``name`` imports (ours and others'), relative imports resolved; for ``from X import
    Y`` that is ``X`` and, when Y is one of our modules, ``X.Y`` too."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        found.add(base)  # `from X import Y` runs X (a package's __init__) first, even when Y is a submodule
        for alias in node.names:
            if f"{base}.{alias.name}" in modules():
                found.add(f"{base}.{alias.name}")
    return found


@cache
def graph() -> dict[str, set[str]]:
    """Our modules and the modules of ours each imports."""
    ours = modules()
    edges: dict[str, set[str]] = {}
    for name in ours:
        targets = set()
        for imported in imported_names(name):
            # `import o2c.platform.db` names a module; `from models.contract import X` may name a package.
            while imported and imported not in ours:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components of more than one module are the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph()[name])
    return seen


def under(name: str, *packages: str) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{name} imports {target}"
        for name, targets in graph().items()
        if under(name, layer)
        for target in targets
        if under(target, *forbidden)
    )


def test_the_graph_sees_every_layer() -> None:
    """The checks below would pass on an empty graph: make sure they read the code."""
    assert {"o2c.cli", "o2c.platform.db", "workers.worker", "workflows.order", "models.contract"} <= set(graph())
    assert "o2c.cli.cash" in graph()["o2c.cli"]  # a module-level import
    assert "o2c.platform.db" in graph()["o2c.cli.services"]  # an import inside a function
    assert "models.contract" in reachable("workflows.order")


def test_no_import_cycles() -> None:
    cycles = strongly_connected(graph())
    assert not cycles, "import cycles (each line: modules that import each other, directly or not):\n" + "\n".join(
        " <-> ".join(cycle) for cycle in cycles
    )


def test_no_module_over_400_lines() -> None:
    sizes = {
        path.relative_to(ROOT): len(path.read_text().splitlines())
        for name, path in modules().items()
        if not name.startswith(NOT_SIZED)
    }
    over = sorted(f"{path}: {lines} lines" for path, lines in sizes.items() if lines > MAX_LINES)
    assert not over, f"modules over {MAX_LINES} lines (split them by concern):\n" + "\n".join(over)


def test_the_worker_loads_no_development_tools() -> None:
    loaded = reachable("workers.worker")
    reached = any(under(name, "activities") for name in loaded) and "workflows.order" in loaded
    assert reached, "the walk did not reach the worker's imports"
    tools = sorted(name for name in loaded if under(name, DEVTOOLS) or "bench" in name.rsplit(".", 1)[-1])
    assert not tools, f"workers/ reaches development tools: {tools}"


def test_the_platform_imports_nothing_above_it() -> None:
    above = (
        "activities",
        "workflows",
        "workers",
        "o2c.cli",
        "o2c.web",
        "o2c.client",
        DEVTOOLS,
        "o2c.matching",
        "o2c.statements",
        "o2c.reporting",
    )
    assert not violations("o2c.platform", above)


def test_models_import_only_models() -> None:
    assert not violations("models", ("o2c", "activities", "workflows", "workers"))


def test_activities_import_no_edges() -> None:
    assert not violations("activities", ("o2c.cli", "o2c.web", DEVTOOLS, "workers"))


def test_workflows_import_only_models_workflows_temporal_and_pydantic() -> None:
    allowed = ("models", "workflows", "temporalio", "pydantic", "pydantic_core")
    wrong = sorted(
        f"{name} imports {target}"
        for name in modules()
        if under(name, "workflows")
        for target in imported_names(name)
        if not under(target, *allowed) and target.partition(".")[0] not in sys.stdlib_module_names
    )
    assert not wrong, "workflows must stay deterministic and light: " + ", ".join(wrong)


def test_the_image_copies_no_development_tools() -> None:
    ignored = {
        line.strip().strip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    copies = [
        line.split()[1:-1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.split()[:1] in (["COPY"], ["ADD"])
    ]
    assert copies, "the Dockerfile copies nothing?"
    for sources in copies:
        for source in (s for s in sources if not s.startswith("--")):
            source = source.strip("./") or "."
            assert not source.startswith("o2c/devtools"), f"the Dockerfile copies {source}"
            if source in (".", "o2c"):
                assert "o2c/devtools" in ignored, f"COPY {source} takes o2c/devtools: list it in .dockerignore"


def test_production_commands_run_without_the_development_tools() -> None:
    """As in the image: with o2c.devtools missing, the production modules import and ``o2c --help`` works,
    while a development command says what is missing instead of a traceback."""
    hide = "import sys; sys.modules['o2c.devtools'] = None; "
    production = [n for n in modules() if not under(n, DEVTOOLS, "o2c.migrations") and not n.endswith("__main__")]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    load = subprocess.run(
        [
            sys.executable,
            "-c",
            hide + "import importlib; [importlib.import_module(n) for n in sys.argv[1:]]",
            *production,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert load.returncode == 0, load.stderr[-2000:]
    help_text = subprocess.run(
        [sys.executable, "-c", hide + "from o2c.cli import run; sys.exit(run(['--help']))"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert help_text.returncode == 0 and "worker" in help_text.stdout, help_text.stderr[-2000:]
    for command in (["schemas"], ["demo"], ["bench", "match"], ["sink"], ["bench-worker"], ["dev"]):
        refused = subprocess.run(
            [sys.executable, "-c", hide + "from o2c.cli import run; sys.exit(run(sys.argv[1:]))", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1, (command, refused.stdout, refused.stderr[-2000:])
        assert refused.stderr.strip() == (
            f"o2c {command[0]}: development tools are not installed in this image: run from a source checkout"
        ), refused.stderr[-2000:]
