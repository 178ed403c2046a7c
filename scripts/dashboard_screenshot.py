#!/usr/bin/env python3
"""Take the README's screenshot of the status dashboard: a gateway on the sim with some traffic.

    .venv/bin/python scripts/dashboard_screenshot.py [OUT.png]       (default docs/dashboard.png)

Starts an in-process gateway on loopback ports, connects a strategy, rests two orders, opens a bracket
on the perp, logs a warning, then opens `/` in the system Chromium (driven by Playwright, installed with
`pip install -e '.[dev]'`) and saves a full-page screenshot. GATEWAY_TEST_CHROMIUM overrides the
browser binary (default: `chromium` on PATH).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.api.config import ApiSettings, HttpSettings, Permission, StrategySettings
from gateway.app import Gateway
from gateway.client import GatewayClient
from gateway.config import PersistenceSettings, Settings
from gateway.logconfig import configure_logging
from gateway.venues.sim.config import SimSettings

KEY = "screenshot-strategy-key"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


async def main(out: Path) -> None:
    from playwright.async_api import async_playwright, expect

    chromium = os.environ.get("GATEWAY_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no Chromium binary: apt-get install chromium, or set GATEWAY_TEST_CHROMIUM")
    configure_logging("warning", "console", stream=sys.stderr)
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            venues={"sim": SimSettings(message_rate=20)},
            api=ApiSettings(port=0, strategies=[StrategySettings(name="alpha", api_key=KEY,
                                                                 permissions=frozenset(Permission))]),
            http=HttpSettings(port=0),
            persistence=PersistenceSettings(data_dir=data_dir),
        )
        async with Gateway(settings) as gateway:
            url = f"http://127.0.0.1:{gateway.ops.port}/?interval=0.5"
            async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=KEY) as client:
                await client.subscribe(["sim:BTC/USDT@trade", "sim:BTC/USDT@bbo", "sim@order"])
                bid = Decimal((await client.call("bbo", {"symbol": "BTC/USDT"}))["bid"])
                await client.place_order("BTC/USDT", "buy", "limit", qty="0.002", price=str(bid - 150))
                await client.place_order("BTC/USDT", "buy", "limit", qty="0.001", price=str(bid - 400))
                perp = await client.call("bbo", {"symbol": "BTC/USDT:USDT"})
                bid, ask = Decimal(perp["bid"]), Decimal(perp["ask"])
                await client.call("bracket.place", {
                    "symbol": "BTC/USDT:USDT", "side": "buy", "qty": "0.010", "entry": {"type": "market"},
                    "take_profit": {"trigger_price": str(ask + 300)}, "stop_loss": {"trigger_price": str(bid - 300)},
                    "mode": "emulated"})
                import structlog

                structlog.get_logger("gateway.api.session").warning(
                    "session.slow_consumer", strategy="beta", remote="127.0.0.1:53122", queued=4096)
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(executable_path=chromium, args=ARGS)
                    page = await browser.new_page(viewport={"width": 1360, "height": 900}, device_scale_factor=1)
                    await page.goto(url)
                    await expect(page.locator("#ready")).to_have_text("READY", timeout=15_000)
                    await expect(page.locator("#brackets tr[data-protection]")).to_have_count(1, timeout=15_000)
                    await page.screenshot(path=str(out), full_page=True)
                    await browser.close()
    print(out)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "dashboard.png"
    asyncio.run(main(target))
