"""Load the frames of tests/fixtures/binance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

__all__ = ["FIXTURES", "load"]

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "binance"


def load(kind: str, name: str) -> Any:
    """Return the decoded JSON of ``tests/fixtures/binance/<kind>/<name>.json``."""
    return orjson.loads((FIXTURES / kind / f"{name}.json").read_bytes())
