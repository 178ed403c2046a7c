"""`/metrics`: a real gateway in-process, scraped over a real socket and parsed by Prometheus's own parser."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from gateway.api.config import ApiSettings, HttpSettings, Permission, StrategySettings
from gateway.app import Gateway
from gateway.config import PersistenceSettings, Settings
from gateway.core.enums import ConnectionState
from gateway.market.cache import MarketCache
from gateway.metrics import GatewayCollector, Metrics
from gateway.venues.sim.config import SimSettings

KEY = "metrics-test-key-0001"
DEADLINE_S = 5.0
ALLOWED_LABELS = {"venue", "symbol", "kind", "loop", "state", "code", "le"}  # le: a histogram's buckets

EXPECTED_FAMILIES = {
    "gateway_market_messages_received",
    "gateway_market_pushes_sent",
    "gateway_market_last_message_age_seconds",
    "gateway_market_cache_age_seconds",
    "gateway_market_cache_stale",
    "gateway_strategy_connections",
    "gateway_strategy_connections_authenticated",
    "gateway_strategy_frames_dropped",
    "gateway_loop_restarts",
    "gateway_loop_running",
    "gateway_loop_healthy",
    "gateway_ready",
    "gateway_venue_up",
    "gateway_venue_state",
}

Samples = dict[str, list[tuple[dict[str, str], float]]]  # family name -> [(labels, value)]


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    settings = Settings(
        venues={"sim": SimSettings(seed=3, message_rate=50)},
        api=ApiSettings(
            port=0,
            strategies=[
                StrategySettings(
                    name="alpha",
                    api_key=KEY,
                    permissions=frozenset({Permission.READ}),
                    accounts=frozenset({"sim"}),
                )
            ],
        ),
        http=HttpSettings(port=0),
        persistence=PersistenceSettings(data_dir=str(tmp_path)),
    )
    gateway = Gateway(settings)
    async with gateway:
        yield gateway


async def scrape(port: int) -> tuple[str, Samples]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        content_type = response.headers["Content-Type"]
        text = await response.text()
    families: Samples = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = [(dict(s.labels), s.value) for s in family.samples]
    return content_type, families


def value(families: Samples, name: str, **labels: str) -> float:
    matches = [v for sample_labels, v in families[name] if labels.items() <= sample_labels.items()]
    assert len(matches) == 1, f"{name}{labels}: {families[name]}"
    return matches[0]


async def scrape_until(port: int, predicate, what: str) -> Samples:
    """Scrape until `predicate(families)` holds; fail after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        _, families = await scrape(port)
        if predicate(families):
            return families
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen within {DEADLINE_S}s")
        await asyncio.sleep(0.02)


async def test_metrics_parse_and_market_counter_moves_between_scrapes(gateway: Gateway) -> None:
    port = gateway.ops.port
    content_type, first = await scrape(port)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert EXPECTED_FAMILIES <= first.keys(), EXPECTED_FAMILIES - first.keys()
    assert "process_cpu_seconds" in first  # the standard process collector rides on the same registry

    before = value(first, "gateway_market_messages_received")
    second = await scrape_until(
        port, lambda f: value(f, "gateway_market_messages_received") > before, "market messages moving"
    )
    assert value(second, "gateway_venue_up", venue="sim") == 1.0
    assert value(second, "gateway_venue_state", venue="sim", state="open") == 1.0
    assert value(second, "gateway_venue_state", venue="sim", state="closed") == 0.0
    assert value(second, "gateway_loop_running", loop="market.fallback_poller") == 1.0
    assert value(second, "gateway_market_last_message_age_seconds", venue="sim") < DEADLINE_S
    symbols = {labels["symbol"] for labels, _ in second["gateway_market_cache_stale"]}
    assert symbols == set(gateway.venues["sim"].instruments)


async def test_metrics_count_strategy_connections_and_pushes(gateway: Gateway) -> None:
    port = gateway.ops.port
    _, idle = await scrape(port)
    assert value(idle, "gateway_strategy_connections") == 0
    pushes_before = value(idle, "gateway_market_pushes_sent")

    async with connect(f"ws://127.0.0.1:{gateway.api.port}/ws") as ws:
        await ws.send(orjson.dumps({"id": 1, "method": "auth", "params": {"api_key": KEY}}).decode())
        await ws.send(
            orjson.dumps(
                {"id": 2, "method": "subscribe", "params": {"streams": ["sim:BTC/USDT@trade"]}}
            ).decode()
        )
        pushes = 0
        async with asyncio.timeout(DEADLINE_S):
            while pushes < 3:
                pushes += "stream" in orjson.loads(await ws.recv())
        busy = await scrape_until(
            port, lambda f: value(f, "gateway_market_pushes_sent") >= pushes_before + pushes, "pushes counted"
        )
        assert value(busy, "gateway_strategy_connections") == 1
        assert value(busy, "gateway_strategy_connections_authenticated") == 1
        assert value(busy, "gateway_strategy_frames_dropped") == 0

    await scrape_until(port, lambda f: value(f, "gateway_strategy_connections") == 0, "the connection gone")


async def test_metrics_speak_openmetrics_when_asked(gateway: Gateway) -> None:
    url = f"http://127.0.0.1:{gateway.ops.port}/metrics"
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await response.text()).endswith("# EOF\n")


async def test_metrics_labels_stay_low_cardinality(gateway: Gateway) -> None:
    _, families = await scrape(gateway.ops.port)
    for name, samples in families.items():
        if not name.startswith("gateway_"):
            continue
        for labels, _ in samples:
            assert labels.keys() <= ALLOWED_LABELS, (name, labels)


def test_a_component_can_add_a_histogram_to_the_same_registry() -> None:
    metrics = Metrics(process=False)
    metrics.register(GatewayCollector(_fake_source()))
    latency = metrics.histogram("gateway_order_ack_latency_seconds", "Command to venue ack.", ["venue"])
    latency.labels("sim").observe(0.003)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render()[0].decode())}
    assert families["gateway_order_ack_latency_seconds"].type == "histogram"
    with pytest.raises(ValueError):  # the collector's names are claimed: no silent duplicates
        metrics.histogram("gateway_market_messages_received", "a clash")


def test_collector_reads_component_counters_at_scrape_time() -> None:
    source = _fake_source()
    metrics = Metrics(process=False)
    metrics.register(GatewayCollector(source))

    def parsed() -> Samples:
        text = metrics.render()[0].decode()
        return {
            f.name: [(dict(s.labels), s.value) for s in f.samples]
            for f in text_string_to_metric_families(text)
        }

    families = parsed()
    assert value(families, "gateway_market_messages_received") == 10
    assert (
        value(families, "gateway_market_cache_age_seconds", venue="sim", symbol="BTC/USDT", kind="bbo") == 0.5
    )
    assert (
        value(families, "gateway_market_cache_stale", venue="sim", symbol="ETH/USDT") == 1.0
    )  # never received
    assert value(families, "gateway_venue_up", venue="sim") == 0.0
    assert value(families, "gateway_venue_state", venue="sim", state="reconnecting") == 1.0
    assert value(families, "gateway_loop_restarts", loop="market.fallback_poller") == 2
    assert value(families, "gateway_loop_healthy", loop="market.fallback_poller") == 0.0
    assert value(families, "gateway_strategy_frames_dropped") == 7

    source.market.messages_in = 25  # no hot-path hook: the next scrape simply reads the new value
    assert value(parsed(), "gateway_market_messages_received") == 25


@dataclass
class _FakeMarket:
    messages_in: int = 10
    pushes_out: int = 4
    last_message_ms: dict[str, int] = field(default_factory=lambda: {"sim": 9_000})
    cache: MarketCache = field(default_factory=lambda: MarketCache(5_000))


def _fake_source() -> SimpleNamespace:
    from decimal import Decimal

    from gateway.core.events import Bbo

    market = _FakeMarket()
    market.cache.apply(
        Bbo("sim", "BTC/USDT", Decimal(1), Decimal(1), Decimal(2), Decimal(1), 9_500, 9_500), 9_500
    )
    adapter = SimpleNamespace(
        state=ConnectionState.RECONNECTING, instruments={"BTC/USDT": None, "ETH/USDT": None}
    )
    return SimpleNamespace(
        clock=SimpleNamespace(now_ms=lambda: 10_000),
        market=market,
        api=SimpleNamespace(session_count=lambda: 0, sessions=list, dropped_frames=lambda: 7),
        supervisor=SimpleNamespace(
            restarts={"market.fallback_poller": 2}, names=lambda: ["market.fallback_poller"]
        ),
        health=SimpleNamespace(problems={"market.fallback_poller": "crashed 3 times in 60s"}),
        venues={"sim": adapter},
        readiness_problems=lambda: ["venue sim is reconnecting"],
    )
