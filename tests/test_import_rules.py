"""The import rules of DESIGN.md, enforced by walking the package with `ast`.

Imports point down the layers, never up, and never in a circle:

1. base: ``utils``, ``data``, ``text``, ``report``, the package root and private pieces;
2. ``models`` (checkpoints among them);
3. ``train`` — knows no model family, draws nothing, measures nothing;
4. ``metrics`` — may use models;
5. ``viz``, ``widgets`` — may use metrics and models to show them;
6. ``checks``, ``recipes``, ``serve`` — anything of the library above;
7. ``tools`` — anything; nothing imports tools.

An import inside a function is for an optional or heavy outside package only, with the
reason in a comment; never a gankit module (that would hide a circle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gankit"

LIBRARY = {"base", "models", "train", "metrics", "show"}
ALLOWED = {
    "base": {"base"},
    "models": {"base", "models"},
    "train": {"base", "train"},
    "metrics": {"base", "models", "metrics"},
    "show": {"base", "models", "metrics", "show"},
    "checks": LIBRARY | {"checks"},
    "recipes": LIBRARY | {"recipes"},
    "serve": LIBRARY | {"serve"},
    "tools": LIBRARY | {"checks", "recipes", "serve", "tools"},
    "main": {"tools"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    """The layer of a gankit module, by its name."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if top in ("models", "train", "metrics", "checks", "recipes", "serve", "tools"):
        return top
    if top in ("viz", "widgets"):
        return "show"
    if top == "__main__":
        return "main"
    if top in ("", "utils", "data", "text", "report") or top.startswith("_"):
        return "base"
    raise AssertionError(f"{module} is in no layer of DESIGN.md's import rules: add it to tests/test_import_rules.py")


def gankit_imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[ast.stmt, str]]:
    """(node, imported gankit module) for every import of a gankit module in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node, alias.name) for alias in node.names if alias.name.split(".")[0] == "gankit"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "gankit":
                continue
            for alias in node.names:  # `from gankit import viz` imports the module gankit.viz
                sub = f"{target}.{alias.name}"
                found.append((node, sub if (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").exists()
                              or (PACKAGE.parent / Path(*sub.split("."))).is_dir() else target))
    return found


def function_level_imports(tree: ast.AST) -> list[ast.stmt]:
    nodes = []
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nodes += [n for n in ast.walk(func) if isinstance(n, (ast.Import, ast.ImportFrom))]
    return nodes


def read_package():
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        modules[name] = (path, ast.parse(path.read_text(encoding="utf-8")), path.name == "__init__.py")
    return modules


MODULES = read_package()


def test_the_walk_finds_every_layer():
    layers = {layer(m) for m in MODULES}
    assert {"base", "models", "train", "metrics", "show", "checks", "recipes", "tools"} <= layers


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    path, tree, is_package = MODULES[module]
    mine = layer(module)
    wrong = [f"line {node.lineno}: {target} ({layer(target)})"
             for node, target in gankit_imports(tree, module, is_package)
             if layer(target) not in ALLOWED[mine]]
    assert not wrong, (f"{module} ({mine}) may import only from {sorted(ALLOWED[mine])}, but imports "
                       + "; ".join(wrong))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_function_level_imports_are_outside_packages_with_a_reason(module):
    path, tree, _ = MODULES[module]
    lines = path.read_text(encoding="utf-8").splitlines()
    for node in function_level_imports(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        assert node_level_ok(node) and not any(n.split(".")[0] == "gankit" for n in names), (
            f"{where} imports {names} inside a function: import gankit modules at the top of the file "
            f"(an import inside a function hides an import circle)")
        # the reason: a comment on the import's own lines or just above its group of imports
        span = lines[node.lineno - 1: node.end_lineno]
        above = node.lineno - 2
        while above >= 0 and lines[above].strip().startswith(("import ", "from ")):
            above -= 1
        assert any("#" in line for line in span) or lines[above].strip().startswith("#"), (
            f"{where} imports {names} inside a function without saying why: put the reason in a comment "
            f"(an optional or heavy outside package)")


def node_level_ok(node: ast.stmt) -> bool:
    return not (isinstance(node, ast.ImportFrom) and node.level)  # a relative import is a gankit module


def test_nothing_imports_tools():
    importers = [module for module, (_, tree, is_package) in MODULES.items()
                 if layer(module) not in ("tools", "main")
                 and any(layer(target) == "tools" for _, target in gankit_imports(tree, module, is_package))]
    assert not importers, f"tools are for people, not for the library; imported by {importers}"


def import_graph() -> dict[str, set[str]]:
    """Module → the gankit modules its import runs: each module it imports, and the packages
    around that module (importing a.b.c runs a/__init__ and a/b/__init__ first), except the
    packages the importer itself sits in, which are already being imported."""
    graph = {}
    for module, (_, tree, is_package) in MODULES.items():
        edges = set()
        for _, target in gankit_imports(tree, module, is_package):
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                package = ".".join(parts[:i])
                if package in MODULES and package != module and not module.startswith(package + "."):
                    edges.add(package)
        graph[module] = edges
    return graph


def test_no_import_circle():
    graph = import_graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circle = path[path.index(module):] + [module]
            raise AssertionError("import circle: " + " → ".join(circle))
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


@pytest.mark.parametrize("source, layer_of, allowed", [
    ("from gankit.models import GPT", "gankit.train.lm", False),
    ("from gankit import viz", "gankit.metrics.judge", False),
    ("from gankit.tools import cli", "gankit.checks.core", False),
    ("from gankit.utils import eval_mode", "gankit.models.vae", True),
    ("from gankit.models import DigitJudge", "gankit.metrics.judge", True),
])
def test_the_rule_itself_catches_an_upward_import(source, layer_of, allowed):
    """The checker above is only as good as its resolution of names: a known upward import
    is caught, a known downward one is allowed."""
    (node, target), = gankit_imports(ast.parse(source), layer_of, False)
    assert (layer(target) in ALLOWED[layer(layer_of)]) is allowed


def test_check_names_are_unique_across_families():
    """gankit.checks re-exports every family module's ``__all__`` with a star import, where a
    second module's name would silently replace the first's (lesson 05's and lesson 01's
    generator-loss checks share a name; that is why gan_debugging is not star-imported)."""
    import gankit.checks as checks

    seen: dict[str, str] = {}
    for module in checks._FAMILIES:
        for name in module.__all__:
            assert name not in seen, f"{name} is in both {seen[name]} and {module.__name__}: rename one"
            seen[name] = module.__name__
            assert getattr(checks, name) is getattr(module, name)
    assert set(checks.__all__) >= set(seen)
