"""The Binance venue's pure modules (and the shared pure pieces) do no I/O and read no clock (STYLE G1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "gateway"
IO_MODULES = {"asyncio", "aiohttp", "websockets", "sqlite3", "aiosqlite", "time", "socket", "uvloop"}
PURE = [
    *(PACKAGE / "venues" / "binance" / f"{name}.py"
      for name in ("auth", "book", "errors", "instruments", "parse", "schemas", "urls", "config", "enums",
                   "trading", "user_schemas", "user_parse")),
    *(PACKAGE / "venues" / "common" / f"{name}.py" for name in ("retry", "timesync")),
    *(PACKAGE / "simserver" / "binance" / f"{name}.py" for name in ("depth", "limits", "render", "orders_render")),
]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_module_does_no_io(path: Path) -> None:
    assert not _imports(path) & IO_MODULES


@pytest.mark.parametrize("path", sorted((PACKAGE / "venues" / "binance").glob("*.py"))
                         + sorted((PACKAGE / "venues" / "common").glob("*.py"))
                         + sorted((PACKAGE / "simserver").rglob("*.py")), ids=lambda p: p.name)
def test_files_stay_under_400_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) < 400
