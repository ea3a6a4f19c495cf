"""The apps depend on each other one way: tasks_app → qualifications_app → providers.

Read from the source (AST), so it holds for imports inside functions too, the
kind that used to hold an import loop together. Imports under
`if TYPE_CHECKING:` never run and are left out, except in `providers`: a
provider is handed plain data (`RunSpec`), so it names neither app even for
its annotations.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import PROJECT_DIR

APPS = ("tasks_app", "qualifications_app", "providers")
# What each app may import of the apps above it: models only, for foreign keys
# and the objects its services are handed.
ALLOWED_UPWARD = {
    "providers": (),
    "qualifications_app": ("tasks_app.models",),
    "tasks_app": (),
}


def modules() -> dict[str, Path]:
    found = {}
    for app in APPS + ("crowdsite",):
        for path in (PROJECT_DIR / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(
    path: Path, known: dict[str, Path], *, type_checking: bool = False
) -> Iterator[str]:
    """The project modules `path` imports when it runs; with `type_checking`,
    also those it imports only for the type checker."""
    yield from source_imports(
        path.read_text(encoding="utf-8"), known, type_checking=type_checking
    )


def source_imports(
    source: str, known: dict[str, Path], *, type_checking: bool = False
) -> Iterator[str]:
    """The project modules the Python `source` imports (see runtime_imports)."""

    def visit(node: ast.AST) -> Iterator[str]:
        if (
            isinstance(node, ast.If)
            and _is_type_checking(node.test)
            and not type_checking
        ):
            for child in node.orelse:
                yield from visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            for alias in node.names:
                # `from tasks_app import services` imports a module too.
                yield f"{node.module}.{alias.name}"
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    for name in visit(ast.parse(source)):
        if name in known:
            yield name


def import_graph(*, type_checking: bool = False) -> dict[str, set[str]]:
    known = modules()
    return {
        name: set(runtime_imports(path, known, type_checking=type_checking))
        for name, path in known.items()
    }


def app_of(module: str) -> str:
    return module.split(".")[0]


def test_no_app_imports_an_app_above_it():
    above = {"providers": APPS[:2], "qualifications_app": APPS[:1], "tasks_app": ()}
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if app_of(module) in above
        and app_of(target) in above[app_of(module)]
        and not target.startswith(ALLOWED_UPWARD[app_of(module)])
    )

    assert wrong == []


def test_providers_import_neither_app_not_even_for_type_checking():
    into_apps = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph(type_checking=True).items()
        if app_of(module) == "providers"
        for target in targets
        if app_of(target) in ("tasks_app", "qualifications_app")
    )

    assert into_apps == []


def test_no_import_loop_crosses_apps():
    graph = import_graph()

    loops = [c for c in strongly_connected(graph) if len({app_of(m) for m in c}) > 1]

    assert loops == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module (the import loops)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return found


def test_the_checks_see_a_loop_and_an_upward_import():
    graph = {"providers.a": {"tasks_app.b"}, "tasks_app.b": {"providers.a"}}

    assert strongly_connected(graph) == [["providers.a", "tasks_app.b"]]
    assert "tasks_app.models" in set(
        runtime_imports(PROJECT_DIR / "qualifications_app" / "services.py", modules())
    )


def test_the_type_checking_imports_are_seen_only_when_asked_for():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from tasks_app.models import TaskRun\n"
    )

    assert set(source_imports(source, modules())) == set()
    assert "tasks_app.models" in set(
        source_imports(source, modules(), type_checking=True)
    )
