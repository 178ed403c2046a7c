"""The examples run against a real in-process gateway."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.conftest import LOCAL_KEY

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def test_simple_strategy_places_sees_fills_and_cancels(gateway_factory) -> None:
    spec = importlib.util.spec_from_file_location("simple_strategy", EXAMPLES / "simple_strategy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    gateway = await gateway_factory()
    outcome = await module.run(f"ws://127.0.0.1:{gateway.api.port}/ws", LOCAL_KEY)
    assert outcome["resting"] == "new"
    assert outcome["market"] == "filled"
    assert outcome["canceled"] == "canceled"
    assert outcome["fill_trade_id"]
