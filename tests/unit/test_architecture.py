"""The layering rules of DESIGN.md, checked on the source: pure modules do no I/O, core imports no layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "gateway"
IO_MODULES = {"asyncio", "aiohttp", "websockets", "sqlite3", "aiosqlite", "time", "socket", "uvloop"}

PURE = [
    *sorted(p for p in (PACKAGE / "core").glob("*.py") if p.name != "clock.py"),
    PACKAGE / "market" / "cache.py",
    PACKAGE / "api" / "protocol.py",
    PACKAGE / "api" / "session.py",
    PACKAGE / "api" / "fmz" / "protocol.py",
    PACKAGE / "api" / "fmz" / "auth.py",
    PACKAGE / "api" / "rest" / "spec.py",
    PACKAGE / "api" / "rest" / "convert.py",
    *sorted(p for p in (PACKAGE / "venues" / "sim").glob("*.py") if p.name not in {"adapter.py", "config.py", "exchange.py", "store.py"}),
    *sorted(
        p for p in (PACKAGE / "orders").glob("*.py") if p.name in {"manager.py", "transitions.py", "validation.py", "risk.py"}
    ),
]


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_modules_do_no_io(path: Path) -> None:
    bad = {name for name in imports_of(path) if name.split(".")[0] in IO_MODULES}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")), ids=lambda p: p.name)
def test_core_imports_nothing_else_of_gateway(path: Path) -> None:
    bad = {n for n in imports_of(path) if n.startswith("gateway.") and not n.startswith("gateway.core")}
    assert not bad, f"core/{path.name} imports {sorted(bad)}"


def test_signal_handlers_live_only_in_main() -> None:
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name != "__main__.py" and "add_signal_handler" in p.read_text()
    ]
    assert offenders == []


def test_every_module_declares_all() -> None:
    missing = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" and "__all__" not in p.read_text()
    ]
    assert missing == []
