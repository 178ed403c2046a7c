"""The bracket core is pure: no I/O or clock imports, only `gateway.core` and itself, `__all__` everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gateway.orders.brackets as brackets

PACKAGE = Path(brackets.__file__).resolve().parent
MODULES = sorted(PACKAGE.glob("*.py"))
SHELL = {"service.py", "runner.py", "views.py", "writer.py"}  # the async service around the core: I/O by design
FORBIDDEN = {"asyncio", "aiohttp", "websockets", "sqlite3", "aiosqlite", "time", "socket", "uvloop", "datetime",
             "random", "structlog", "logging"}


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_bracket_modules_are_pure(path: Path) -> None:
    names = imports_of(path)
    assert len(path.read_text().splitlines()) <= 440
    assert path.name == "__init__.py" or "__all__" in path.read_text()
    if path.name in SHELL:
        return
    assert not {n for n in names if n.split(".")[0] in FORBIDDEN}
    gateway = {n for n in names if n.startswith("gateway")}
    assert all(n.startswith(("gateway.core", "gateway.orders.brackets")) for n in gateway), gateway


def test_package_exports_resolve() -> None:
    assert all(hasattr(brackets, name) for name in brackets.__all__)
    assert len(set(brackets.__all__)) == len(brackets.__all__)
