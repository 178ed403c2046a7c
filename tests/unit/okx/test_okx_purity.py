"""The pure OKX modules import no I/O (STYLE G15)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PURE = ["auth", "book", "clientids", "envelope", "instruments", "parse", "trading", "user_parse"]
FORBIDDEN = {"asyncio", "aiohttp", "websockets", "sqlite3", "time"}


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io(module: str) -> None:
    path = Path(__file__).parents[3] / "gateway" / "venues" / "okx" / f"{module}.py"
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{module} imports {name}"
