"""The algo core is pure: no I/O or clock imports; only `gateway.core` and itself; `__all__` everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gateway.orders.algo as algo_package

PACKAGE = Path(algo_package.__file__).resolve().parent
MODULES = sorted(PACKAGE.glob("*.py"))
SHELL = {"service.py", "writer.py", "config.py", "backend.py", "placement.py", "market_view.py", "remote.py",
         "remote_journal.py"}  # the async shell and its settings
FORBIDDEN = {"asyncio", "aiohttp", "websockets", "sqlite3", "aiosqlite", "time", "socket", "uvloop", "random",
             "structlog", "logging"}


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_algo_modules_are_pure(path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= 440
    assert path.name == "__init__.py" or "__all__" in text
    if path.name in SHELL:
        return
    names = imports_of(path)
    assert not {n for n in names if n.split(".")[0] in FORBIDDEN}
    assert "datetime" not in names or path.name == "validation.py"  # ISO 8601 parsing only, never the clock
    assert ".now(" not in text and "utcnow" not in text
    gateway = {n for n in names if n.startswith("gateway")}
    assert all(n.startswith(("gateway.core", "gateway.orders.algo")) for n in gateway), gateway
