"""The status dashboard at `/`: served self-contained, and driven in a real headless Chromium.

The browser tests need Playwright's Python package (a dev extra: `pip install -e '.[dev]'`) and the system
Chromium (Debian: `apt-get install chromium`; another binary with GATEWAY_TEST_CHROMIUM=/path). Playwright's
own browser downloads are never used. Where either is missing they skip, saying which.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway.client import GatewayClient
from tests.conftest import LOCAL_KEY, wait_ready

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
WAIT_MS = 10_000  # the longest any expectation waits for the page to show a change


def _chromium() -> str | None:
    given = os.environ.get("GATEWAY_TEST_CHROMIUM")
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


async def test_dashboard_is_one_self_contained_page(gateway_factory) -> None:
    gateway = await gateway_factory()
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{gateway.ops.port}/") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        page = await response.text()
    assert "<title>gateway status</title>" in page and 'fetch("status"' in page
    # Nothing is loaded from elsewhere: no external script, stylesheet, font or image.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "an external asset"
    assert "@import" not in page and "url(" not in page


async def test_status_feeds_the_dashboard(gateway_factory) -> None:
    gateway = await gateway_factory()
    await wait_ready(gateway.ops.port)
    async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
        bid = (await client.call("bbo", {"symbol": "BTC/USDT"}))["bid"]
        order = await client.place_order("BTC/USDT", "buy", "limit", qty="0.001", price=str(int(float(bid)) - 1000))
        status = await _status(gateway.ops.port)
    assert status["ready"] is True and status["problems"] == []
    (sim,) = status["venues"]
    assert sim["name"] == "sim" and sim["state"] == "open" and sim["reconnects"] == 0
    assert sim["state_since_ms"] and sim["last_message_age_ms"] is not None
    assert status["orders"]["open"] == 1 and status["orders"]["kill_switch"] is False
    (listed,) = status["orders"]["listed"]
    assert listed["client_order_id"] == order.client_order_id and listed["strategy"] == "local"
    assert status["brackets"] == [] and isinstance(status["errors"], list)
    assert [s["strategy"] for s in status["strategies"]] == ["local"]


async def test_recent_errors_keep_warnings_without_secrets(gateway_factory) -> None:
    import structlog

    gateway = await gateway_factory()
    log = structlog.get_logger("gateway.test")
    log.info("test.not_kept")
    log.warning("test.venue_trouble", venue="sim", api_key="abcd-secret-key", detail="x" * 500)
    log.error("test.broken", error="boom")
    errors = (await _status(gateway.ops.port))["errors"]
    newest, older = errors[0], errors[1]
    assert newest["event"] == "test.broken" and newest["level"] == "error" and newest["error"] == "boom"
    assert older["event"] == "test.venue_trouble" and older["venue"] == "sim"
    assert older["api_key"] == "***" and len(older["detail"]) <= 200
    assert all(e["event"] != "test.not_kept" for e in errors)
    await gateway.stop()
    log.warning("test.after_stop")  # the processor is gone with the gateway
    assert all(e["event"] != "test.after_stop" for e in gateway.recent_log.events())


async def _status(port: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/status") as response:
        assert response.status == 200
        return await response.json()


# --- in a real browser -------------------------------------------------------------------------------


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="the Playwright package is not installed (pip install -e '.[dev]')")
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium binary (apt-get install chromium, or set GATEWAY_TEST_CHROMIUM)")
    async with playwright_api.async_playwright() as playwright:
        try:
            launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        except playwright_api.Error as exc:
            pytest.skip(f"Chromium at {chromium} does not start under Playwright: {exc.message.splitlines()[0]}")
        try:
            yield launched
        finally:
            await launched.close()


async def test_dashboard_shows_the_sim_venue_and_updates_when_an_order_is_placed(gateway_factory, browser) -> None:
    from playwright.async_api import expect

    gateway = await gateway_factory()
    base = f"http://127.0.0.1:{gateway.ops.port}"
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    await page.goto(f"{base}/?interval=0.25")
    sim = page.locator('#venues tr[data-venue="sim"]')
    await expect(sim).to_have_attribute("data-state", "open", timeout=WAIT_MS)
    await expect(sim.locator('[data-role="venue-state"]')).to_have_text("open")
    await expect(page.locator("#ready")).to_have_text("READY", timeout=WAIT_MS)
    await expect(page.locator("#kill-switch")).to_be_hidden()
    await expect(page.locator("#open-orders-count")).to_have_attribute("data-count", "0")
    await expect(page.locator("#orders")).to_contain_text("no open orders")

    async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
        await expect(page.locator('#strategies tr[data-strategy="local"]')).to_have_count(1, timeout=WAIT_MS)
        bid = (await client.call("bbo", {"symbol": "BTC/USDT"}))["bid"]
        order = await client.place_order("BTC/USDT", "buy", "limit", qty="0.001", price=str(int(float(bid)) - 1000))

        row = page.locator(f'#orders tr[data-client-order-id="{order.client_order_id}"]')
        await expect(row).to_be_visible(timeout=WAIT_MS)  # the next poll shows it: no sleep, the driver waits
        await expect(row).to_contain_text("BTC/USDT")
        await expect(row).to_contain_text("new")
        await expect(page.locator("#open-orders-count")).to_have_attribute("data-count", "1")

        await client.cancel_order(client_order_id=order.client_order_id)
        await expect(row).to_have_count(0, timeout=WAIT_MS)
        await expect(page.locator("#open-orders-count")).to_have_attribute("data-count", "0")

    await gateway.orders.engage_kill_switch(False)
    await expect(page.locator("#kill-switch")).to_be_visible(timeout=WAIT_MS)
    await gateway.orders.release_kill_switch()
    await expect(page.locator("#kill-switch")).to_be_hidden(timeout=WAIT_MS)

    assert page_errors == []
    assert requested and all(url.startswith(base + "/") for url in requested), requested
    await page.close()


async def test_dashboard_says_when_the_gateway_is_unreachable(gateway_factory, browser) -> None:
    from playwright.async_api import expect

    gateway = await gateway_factory()
    page = await browser.new_page()
    await page.goto(f"http://127.0.0.1:{gateway.ops.port}/?interval=0.25")
    await expect(page.locator("#ready")).to_have_text("READY", timeout=WAIT_MS)
    await gateway.stop()
    await expect(page.locator("#ready")).to_have_text("UNREACHABLE", timeout=WAIT_MS)
    await page.close()
