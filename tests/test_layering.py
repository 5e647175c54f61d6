"""The package's imports point one way: no module of ``course`` imports, even inside a function,
a module that imports it back (directly or through others), and no module takes another's
private (``_name``) objects. Read from the source with ``ast``, so an import inside a function
counts as much as one at the top."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "course"



def _modules() -> dict:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(modules: dict) -> dict:
    """``{module: {(imported module, name or None), ...}}`` for imports of ``course``."""

    def owner(name):  # the module a dotted name lives in
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    edges = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {(owner(a.name), None) for a in node.names
                          if a.name.split(".")[0] == "course"}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                if base.split(".")[0] != "course":
                    continue
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    found.add((full, None) if full in modules else (owner(base), alias.name))
        edges[module] = {(target, name) for target, name in found if target and target != module}
    return edges


def _cycles(graph: dict) -> list:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


@pytest.fixture(scope="module")
def imports():
    return _imports(_modules())


def test_the_graph_is_read(imports):
    # what the checks below rely on: the graph has the edges known to exist
    assert ("course.recipes", None) in imports["course.training"]
    assert ("course.layers.walk", "layers_of_type") in imports["course.optimizers"]
    assert ("course.evaluation", None) in imports["course.training"]  # imported as a module
    assert any(t == "course.training" for t, _ in imports["course.experiments"])


def test_no_import_cycles(imports):
    graph = {module: {target for target, _ in edges} for module, edges in imports.items()}
    cycles = _cycles(graph)
    assert not cycles, f"import cycles: {cycles}"


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_another_ones_private_names(imports):
    private = {(module, target, name) for module, edges in imports.items()
               for target, name in edges if name and name.startswith("_")}
    assert not private, f"private names imported: {sorted(private)}"


def test_nothing_in_the_package_imports_the_lesson_experiments(imports):
    users = [module for module, edges in imports.items()
             if any(target == "course.experiments" for target, _ in edges)]
    assert users == []


def test_the_grading_contract_is_at_the_bottom(imports):
    """``course.grading`` is split by who calls it: the contract, the text escaping and the
    process helpers import nothing of grading; what a student's check cell calls never reaches
    the instructor's side (notebooks, cli); the artifact grader does not need the checks."""
    graph = {module: {target for target, _ in edges} for module, edges in imports.items()}
    for module in ("course.grading.contract", "course.grading.text",
                   "course.grading.processes"):
        assert not {m for m in graph[module] if m.startswith("course.grading")}, module
    for module in (m for m in graph if m.startswith("course.grading.checks")):
        assert not {m for m in graph[module]
                    if m.startswith(("course.grading.notebooks", "course.grading.cli"))}, module
    for module in (m for m in graph if m.startswith("course.grading.artifact")):
        assert not {m for m in graph[module] if m.startswith("course.grading.checks")}, module
