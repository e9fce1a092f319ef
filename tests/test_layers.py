"""The layout's rules (docs/architecture.md), checked on the import graph of lib/.

Every import counts, including those inside functions: a cycle hidden in a function
body is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parent.parent / "lib"

# Higher layers may import lower ones, never the reverse; web and cli are peers.
RANK = {
    "web": 6,
    "cli": 6,
    "core": 5,
    "products": 4,
    "analysis": 3,
    "store": 2,
    "fingerprint": 1,
    "settings": 0,
    "errors": 0,
    "ops": 0,
    "synth": 0,
}
WEB_ONLY = {"flask", "flask_limiter", "werkzeug", "swagger_ui", "functions_framework"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(LIB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from lib.core import tasks`
    return found


GRAPH = {_module_name(p): _imports(p) for p in LIB.rglob("*.py")}


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def _lib_imports(module: str) -> set[str]:
    """The lib modules `module` imports (a `from pkg import name` counts when name is a module)."""
    return {name for name in GRAPH[module] if name in GRAPH and name != module}


def test_every_package_has_a_layer() -> None:
    assert {_layer(m) for m in GRAPH if m != "lib" and m != "lib.__main__"} <= set(RANK)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module: str) -> None:
    if module in ("lib", "lib.__main__"):
        return
    layer = _layer(module)
    upward = [
        name
        for name in _lib_imports(module)
        if _layer(name) != layer and (_layer(name) not in RANK or RANK[_layer(name)] >= RANK[layer])
    ]
    assert not upward, f"{module} ({layer}) imports {upward}: imports must point to lower layers"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) != "web"))
def test_only_the_web_layer_knows_flask(module: str) -> None:
    frameworks = {name.split(".")[0] for name in GRAPH[module]} & WEB_ONLY
    assert not frameworks, f"{module} imports {frameworks}; only lib/web may"


def test_the_engine_imports_nothing_above_it() -> None:
    for module in (m for m in GRAPH if _layer(m) == "fingerprint"):
        outside = {n for n in GRAPH[module] if n.startswith("lib.") and not n.startswith("lib.fingerprint")}
        assert not outside, f"{module} imports {outside}"


def test_no_import_cycles() -> None:
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for name in sorted(_lib_imports(module)):
            if not module.startswith(name + "."):  # a package's own __init__ is not a cycle
                visit(name, [*path, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])


def test_the_rules_catch_a_violation() -> None:
    """The checks above see an upward import when there is one (the test is not vacuous)."""
    assert "lib.core.service" in _lib_imports("lib.web.context")
    assert RANK[_layer("lib.web.context")] > RANK[_layer("lib.core.service")]
    assert "flask" in {n.split(".")[0] for n in GRAPH["lib.web.app"]}
