"""`/metrics` as traffic flows: orders, rejects, a bracket and its repairs, trades pushed, a reconnect.

A real in-process gateway on the frozen sim market of the bracket tests (nothing trades unless the test
trades as the house), scraped over its ops port and parsed by Prometheus's own parser.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.client import ApiError, GatewayClient
from gateway.core.enums import ConnectionState, Side
from gateway.metrics import GatewayCollector, Metrics
from gateway.ops import protection, venue_details
from tests.component.brackets.kit import PERP, bracket_params, gateway_overrides, house_order
from tests.conftest import LOCAL_KEY

D = Decimal
DEADLINE_S = 5.0

NEW_FAMILIES = {
    "gateway_orders_open",
    "gateway_order_rejects",
    "gateway_order_ack_latency_seconds",
    "gateway_market_tick_to_client_seconds",
    "gateway_journal_write_seconds",
    "gateway_journal_log_lag_batches",
    "gateway_venue_reconnects",
    "gateway_venue_user_stream_restarts",
    "gateway_venue_listen_key_rotations",
    "gateway_venue_rate_limit_used",
    "gateway_venue_rate_limit",
    "gateway_brackets_open",
    "gateway_brackets_protection",
    "gateway_bracket_repairs",
}

Samples = dict[str, list[tuple[dict[str, str], float]]]  # sample name (with _total, _count, ...) -> values


def parse(text: str) -> tuple[set[str], Samples]:
    families: set[str] = set()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return families, samples


async def scrape(port: int) -> tuple[set[str], Samples]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        return parse(await response.text())


def value(samples: Samples, name: str, **labels: str) -> float:
    """The one sample of `name` whose labels include `labels`; 0 when there is none (a counter not yet hit)."""
    matches = [v for sample_labels, v in samples.get(name, []) if labels.items() <= sample_labels.items()]
    assert len(matches) <= 1, f"{name}{labels}: {matches}"
    return matches[0] if matches else 0.0


async def scrape_until(port: int, predicate, what: str) -> Samples:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        _, samples = await scrape(port)
        if predicate(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen within {DEADLINE_S}s")
        await asyncio.sleep(0.02)


@pytest.fixture
async def gw(gateway_factory):
    gateway = await gateway_factory(**gateway_overrides())
    async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
        yield gateway, client


async def best(client: GatewayClient) -> tuple[Decimal, Decimal]:
    bbo = await client.call("bbo", {"symbol": PERP})
    return D(bbo["bid"]), D(bbo["ask"])


async def test_order_families_move_with_placements_and_rejects(gw) -> None:
    gateway, client = gw
    port = gateway.ops.port
    families, idle = await scrape(port)
    assert NEW_FAMILIES <= families, NEW_FAMILIES - families
    assert value(idle, "gateway_orders_open", venue="sim", state="new") == 0
    assert value(idle, "gateway_order_ack_latency_seconds_count", venue="sim") == 0
    journal_writes = value(idle, "gateway_journal_write_seconds_count")

    bid, _ = await best(client)
    await client.place_order(PERP, "buy", "limit", qty="0.010", price=str(bid - 100))
    with pytest.raises(ApiError) as refused_here:  # refused by the gateway: never reaches the venue
        await client.place_order(PERP, "buy", "limit", qty="0.0000001", price=str(bid - 100))
    gateway.venues["sim"].faults.reject_all = "-2010"  # type: ignore[attr-defined]
    with pytest.raises(ApiError) as refused_there:  # refused by the venue
        await client.place_order(PERP, "buy", "limit", qty="0.010", price=str(bid - 100))
    gateway.venues["sim"].faults.reject_all = None  # type: ignore[attr-defined]
    await gateway.orders.journal_flushed()  # SQLite follows the journal's append log: its writes are counted

    _, busy = await scrape(port)
    assert value(busy, "gateway_orders_open", venue="sim", state="new") == 1
    assert value(busy, "gateway_orders_open", venue="sim", state="pending_new") == 0
    assert value(busy, "gateway_order_rejects_total", venue="sim", code=refused_here.value.code) == 1
    assert value(busy, "gateway_order_rejects_total", venue="sim", code=refused_there.value.code) == 1
    assert refused_there.value.code != refused_here.value.code
    # Answered by the venue: the accepted order and the venue's refusal (not the gateway's own refusal).
    assert value(busy, "gateway_order_ack_latency_seconds_count", venue="sim") == 2
    assert value(busy, "gateway_order_ack_latency_seconds_bucket", venue="sim", le="+Inf") == 2
    assert value(busy, "gateway_journal_write_seconds_count") > journal_writes


async def test_bracket_families_move_with_a_bracket_and_its_repairs(gw) -> None:
    gateway, client = gw
    port = gateway.ops.port
    gateway.venues["sim"].faults.withhold_order_ids = True  # type: ignore[attr-defined]  # ids learnt later
    bid, ask = await best(client)
    placed = await client.call("bracket.place", bracket_params(
        "buy", "0.010", {"type": "market"}, ask + 200, bid - 200, mode="native"))

    def protected(samples: Samples) -> bool:
        bracket = gateway.brackets.book.get(placed["bracket_id"])  # type: ignore[union-attr]
        legs_open = all(leg.status == "open" for leg in bracket.legs)  # the venue holds both (ids withheld)
        return legs_open and value(samples, "gateway_brackets_protection", venue="sim", state="protected") == 1

    busy = await scrape_until(port, protected, "the bracket protected by two open legs")
    assert value(busy, "gateway_brackets_open", venue="sim", state="active") == 1
    assert value(busy, "gateway_brackets_open", venue="sim", state="pending_entry") == 0
    assert value(busy, "gateway_brackets_protection", venue="sim", state="unprotected") == 0
    assert value(busy, "gateway_bracket_repairs_total", venue="sim", kind="learned_id") == 0

    counts = await client.call("brackets.reconcile", {})
    assert counts["matched"] == 2, counts
    _, repaired = await scrape(port)
    assert value(repaired, "gateway_bracket_repairs_total", venue="sim", kind="learned_id") == 2

    await client.call("bracket.cancel", {"bracket_id": placed["bracket_id"]})
    ended = await scrape_until(
        port, lambda s: value(s, "gateway_brackets_open", venue="sim", state="active") == 0, "the bracket ended")
    assert value(ended, "gateway_brackets_protection", venue="sim", state="protected") == 0


async def test_tick_to_client_is_sampled_from_pushed_trades_and_reconnects_are_counted(gw) -> None:
    gateway, client = gw
    port = gateway.ops.port
    _, idle = await scrape(port)
    assert value(idle, "gateway_market_tick_to_client_seconds_count", venue="sim") == 0

    await client.subscribe([f"sim:{PERP}@trade"])
    await house_order(gateway, Side.SELL, "0.001")  # one trade on the tape, pushed to our subscription
    await client.next_push(f"sim:{PERP}@trade", timeout=DEADLINE_S)
    _, after = await scrape(port)
    assert value(after, "gateway_market_tick_to_client_seconds_count", venue="sim") == 1

    assert value(after, "gateway_venue_reconnects_total", venue="sim") == 0
    gateway.router.on_connection("sim", ConnectionState.RECONNECTING, "stream dropped")  # as a venue reports it
    gateway.router.on_connection("sim", ConnectionState.RECONNECTING, "still down")  # the same state: not again
    gateway.router.on_connection("sim", ConnectionState.OPEN)
    _, reconnected = await scrape(port)
    assert value(reconnected, "gateway_venue_reconnects_total", venue="sim") == 1


def test_venue_details_a_venue_exposes_become_metrics() -> None:
    from types import SimpleNamespace

    from gateway.venues.common.ratelimit import WEIGHT, HostBudget, RateLimit

    clock = SimpleNamespace(now_ms=lambda: 120_500)
    budget = HostBudget("api.example", [RateLimit(WEIGHT, 60_000, 6000)], clock)  # type: ignore[arg-type]
    budget.observe_used(WEIGHT, 60_000, 1234, 120_500)
    binance_like = SimpleNamespace(
        state=ConnectionState.OPEN, instruments={}, rest=SimpleNamespace(budget=budget),
        ops_status=lambda: {"user_stream": "open", "user_stream_restarts": 2, "listen_key_rotations": 5,
                            "listen_key": "must-never-show", "listen_key_expires_ms": 999_000},
    )
    sim_like = SimpleNamespace(state=ConnectionState.OPEN, instruments={})
    session_status = {"state": "open", "user_stream": {  # the shape of the Binance session's own status()
        "state": "open", "silent": False, "last_message_age_ms": 850, "key_rotations": 1, "connections": 4}}
    with_status = SimpleNamespace(state=ConnectionState.OPEN, instruments={}, status=lambda: session_status)
    source = SimpleNamespace(
        clock=clock, market=SimpleNamespace(messages_in=0, pushes_out=0, last_message_ms={}, cache=None),
        api=SimpleNamespace(session_count=lambda: 0, sessions=list, dropped_frames=lambda: 0),
        supervisor=SimpleNamespace(restarts={}, names=list), health=SimpleNamespace(problems={}),
        venues={"bin": binance_like, "sim": sim_like, "usdm": with_status}, readiness_problems=list,
        router=SimpleNamespace(reconnects={"bin": 3}, bracket_repairs={("bin", "replaced_leg"): 1}),
        orders=None, brackets=None,
    )
    metrics = Metrics(process=False)
    metrics.register(GatewayCollector(source))  # type: ignore[arg-type]
    text = metrics.render()[0].decode()
    _, samples = parse(text)
    assert "must-never-show" not in text
    assert value(samples, "gateway_venue_user_stream_restarts_total", venue="bin") == 2
    assert value(samples, "gateway_venue_listen_key_rotations_total", venue="bin") == 5
    assert value(samples, "gateway_venue_rate_limit_used", venue="bin", kind="request_weight_60s") == 1234
    assert value(samples, "gateway_venue_rate_limit", venue="bin", kind="request_weight_60s") == 6000
    assert value(samples, "gateway_venue_reconnects_total", venue="bin") == 3
    assert value(samples, "gateway_venue_reconnects_total", venue="sim") == 0
    assert value(samples, "gateway_bracket_repairs_total", venue="bin", kind="replaced_leg") == 1
    assert value(samples, "gateway_venue_user_stream_restarts_total", venue="usdm") == 3
    assert value(samples, "gateway_venue_listen_key_rotations_total", venue="usdm") == 1
    assert venue_details(with_status, 0) == {"user_stream": "open", "user_stream_age_ms": 850,
                                             "listen_key_rotations": 1, "user_stream_restarts": 3}
    assert not [labels for labels, _ in samples.get("gateway_venue_user_stream_restarts_total", [])
                if labels["venue"] == "sim"]  # a venue without a user stream reports none


def test_protection_of_a_bracket() -> None:
    from types import SimpleNamespace

    from gateway.orders.brackets.model import BracketState

    def leg(live: bool, armed: str) -> SimpleNamespace:
        return SimpleNamespace(is_live=live, armed_qty=D(armed))

    def bracket(state: BracketState, open_qty: str, *legs: SimpleNamespace) -> SimpleNamespace:
        return SimpleNamespace(state=state, open_qty=D(open_qty), legs=legs)

    assert protection(bracket(BracketState.PENDING_ENTRY, "0", leg(False, "0"), leg(False, "0"))) == "no_position"
    assert protection(bracket(BracketState.ACTIVE, "1", leg(True, "1"), leg(True, "1"))) == "protected"
    assert protection(bracket(BracketState.ACTIVE, "1", leg(True, "1"), leg(False, "0"))) == "partial"
    assert protection(bracket(BracketState.ACTIVE, "1", leg(True, "0.5"), leg(True, "0.5"))) == "partial"
    assert protection(bracket(BracketState.PARTIALLY_CLOSED, "1", leg(False, "0"), leg(False, "0"))) == "unprotected"
    assert protection(bracket(BracketState.NEEDS_ATTENTION, "1", leg(True, "1"), leg(True, "1"))) == "attention"
