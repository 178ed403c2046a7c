"""The Lighter venue's and fake's pure modules do no I/O and read no clock (STYLE G1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "gateway"
IO_MODULES = {"asyncio", "aiohttp", "websockets", "sqlite3", "aiosqlite", "time", "socket", "uvloop", "lighter"}
PURE = [
    *(PACKAGE / "venues" / "lighter" / f"{name}.py"
      for name in ("cache", "config", "constants", "parse", "scaling")),
    *(PACKAGE / "simserver" / "lighter" / f"{name}.py" for name in ("ledger", "txcheck")),
]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", PURE, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.name}")
def test_pure_modules_do_no_io(path: Path) -> None:
    assert not _imports(path) & IO_MODULES
