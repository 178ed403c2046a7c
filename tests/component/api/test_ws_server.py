"""The strategy WebSocket over real loopback sockets, with a real websockets client and a fake venue."""

from __future__ import annotations

import asyncio
import socket
from decimal import Decimal

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.component.api.conftest import (
    ALPHA_KEY,
    SCOPED_KEY,
    TIMEOUT,
    Gateway,
    make_depth,
    make_trade,
)

# --- authentication -------------------------------------------------------------------------------


async def test_auth_with_a_valid_key_returns_strategy_permissions_and_accounts(gateway: Gateway) -> None:
    client = await gateway.connect(auth=False)
    result = await client.result("auth", {"api_key": ALPHA_KEY})
    assert result == {"strategy": "alpha", "permissions": ["read", "trade"], "accounts": ["sim"]}
    assert gateway.server.sessions()[0].strategy == "alpha"


async def test_auth_with_a_wrong_key_is_refused_and_the_connection_stays_usable(gateway: Gateway) -> None:
    client = await gateway.connect(auth=False)
    error = await client.error("auth", {"api_key": "wrong-key-123456"})
    assert error["code"] == "UNAUTHENTICATED"
    assert "wrong-key" not in orjson.dumps(error).decode()
    assert (await client.error("venues"))["code"] == "UNAUTHENTICATED"
    assert (await client.result("auth", {"api_key": ALPHA_KEY}))["strategy"] == "alpha"


async def test_the_x_api_key_header_authenticates_up_front(gateway: Gateway) -> None:
    client = await gateway.connect(auth=False, additional_headers={"X-API-KEY": SCOPED_KEY})
    venues = await client.result("venues")
    assert venues[0]["name"] == "sim"
    assert gateway.server.sessions()[0].strategy == "scoped"


async def test_a_wrong_x_api_key_header_is_refused_with_http_401(gateway: Gateway) -> None:
    with pytest.raises(InvalidStatus) as caught:
        await connect(gateway.url, additional_headers={"X-API-KEY": "not-a-key-at-all"})
    assert caught.value.response.status_code == 401


async def test_other_paths_are_refused_with_http_404(gateway: Gateway) -> None:
    with pytest.raises(InvalidStatus) as caught:
        await connect(f"ws://127.0.0.1:{gateway.server.port}/other")
    assert caught.value.response.status_code == 404


async def test_before_auth_only_auth_ping_and_time_work(gateway: Gateway) -> None:
    client = await gateway.connect(auth=False)
    for method in ("venues", "subscriptions", "ticker"):
        assert (await client.error(method, {}))["code"] == "UNAUTHENTICATED"
    assert (await client.error("subscribe", {"streams": ["sim:BTC/USDT@trade"]}))["code"] == "UNAUTHENTICATED"
    assert isinstance((await client.result("ping"))["ts"], int)
    assert isinstance((await client.result("time"))["ts"], int)


async def test_a_key_without_read_permission_is_forbidden_market_data(gateway: Gateway) -> None:
    client = await gateway.connect("nothing-key-0003")
    assert (await client.error("venues"))["code"] == "FORBIDDEN"


# --- bad requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code", "echoed_id"),
    [
        ("this is not json", "INVALID_JSON", None),
        ("[1, 2, 3]", "INVALID_REQUEST", None),
        ('{"id": 41, "params": {}}', "INVALID_REQUEST", 41),
        ('{"id": "a", "method": 5}', "INVALID_REQUEST", "a"),
        ('{"id": 42, "method": "ping", "params": [1]}', "INVALID_REQUEST", 42),
        ('{"id": 43, "method": "order.teleport"}', "UNKNOWN_METHOD", 43),
        ('{"id": 44, "method": "depth", "params": {}}', "INVALID_PARAMS", 44),
        (
            '{"id": 45, "method": "depth", "params": {"symbol": "BTC/USDT", "limit": "many"}}',
            "INVALID_PARAMS",
            45,
        ),
        (
            '{"id": 46, "method": "depth", "params": {"symbol": "BTC/USDT", "limit": 501}}',
            "INVALID_PARAMS",
            46,
        ),
        (
            '{"id": 47, "method": "klines", "params": {"symbol": "BTC/USDT", "interval": "7m"}}',
            "INVALID_PARAMS",
            47,
        ),
        (
            '{"id": 48, "method": "ticker", "params": {"venue": "nope", "symbol": "BTC/USDT"}}',
            "UNKNOWN_VENUE",
            48,
        ),
        ('{"id": 49, "method": "ticker", "params": {"symbol": "DOGE/USDT"}}', "UNKNOWN_SYMBOL", 49),
        (
            '{"id": 50, "method": "subscribe", "params": {"streams": ["sim:BTC/USDT@nope"]}}',
            "INVALID_PARAMS",
            50,
        ),
        ('{"id": "s", "method": "ping", "params": {"extra": 1}}', "INVALID_PARAMS", "s"),
    ],
)
async def test_bad_requests_get_the_documented_error_and_the_connection_stays_usable(
    gateway: Gateway, frame: str, code: str, echoed_id: object
) -> None:
    client = await gateway.connect()
    response = await client.send_raw(frame)
    assert response["id"] == echoed_id
    assert response["error"]["code"] == code
    assert response["error"]["message"]
    assert isinstance(response["error"]["details"], dict)
    assert "ts" in await client.result("ping")


async def test_invalid_params_name_the_field_in_details(gateway: Gateway) -> None:
    client = await gateway.connect()
    error = await client.error("trades", {"symbol": "BTC/USDT", "limit": 0})
    assert error["details"]["errors"][0]["field"] == "limit"
    assert error["message"].startswith("limit:")


async def test_a_handler_crash_is_an_internal_error_and_the_connection_stays_open(gateway: Gateway) -> None:
    client = await gateway.connect()
    gateway.venue.fail_with = RuntimeError("boom with a secret inside")
    error = await client.error("ticker", {"symbol": "BTC/USDT"})
    assert error == {"code": "INTERNAL", "message": "internal error", "details": {}}
    gateway.venue.fail_with = None
    assert (await client.result("ticker", {"symbol": "BTC/USDT"}))["last"] == "65000.10"


# --- protocol abuse -------------------------------------------------------------------------------


async def test_a_frame_over_the_limit_closes_with_1009(gateway_factory) -> None:
    gateway = await gateway_factory(max_frame_bytes=4096)
    client = await gateway.connect()
    other = await gateway.connect()
    await client.ws.send('{"method": "ping", "params": {"pad": "' + "x" * 8192 + '"}}')
    code, _ = await client.closed()
    assert code == 1009
    assert "ts" in await other.result("ping")


async def test_a_binary_frame_closes_with_1003(gateway: Gateway) -> None:
    client = await gateway.connect()
    await client.ws.send(b'{"method": "ping"}')
    code, reason = await client.closed()
    assert code == 1003
    assert "binary" in reason


async def test_a_request_flood_closes_with_1008_while_another_client_keeps_its_stream(
    gateway_factory,
) -> None:
    gateway = await gateway_factory(rate_limit_per_s=10)  # burst 50
    watcher = await gateway.connect()
    await watcher.result("subscribe", {"streams": ["sim:BTC/USDT@trade"]})
    flooder = await gateway.connect()

    async def flood() -> int:
        sent = 0
        try:
            for n in range(1000):
                await flooder.ws.send(f'{{"id": {n}, "method": "ping"}}')
                sent += 1
        except ConnectionClosed:
            pass
        return sent

    flood_task = asyncio.create_task(flood())
    received = []
    for n in range(200):
        gateway.market.on_market(make_trade("sim", "BTC/USDT", n))
        received.append(await watcher.push())
        if n % 20 == 0:
            await asyncio.sleep(0)  # let the flood interleave with the pushes
    code, reason = await flooder.closed()
    await flood_task
    assert (code, reason) == (1008, "rate limit")
    assert [push["data"]["id"] for push in received] == [str(n) for n in range(200)]
    gateway.market.on_market(make_trade("sim", "BTC/USDT", 999))
    assert (await watcher.push())["data"]["id"] == "999"


# --- subscriptions and pushes ---------------------------------------------------------------------


async def test_trade_bbo_and_depth_pushes_carry_decimal_strings(gateway: Gateway) -> None:
    client = await gateway.connect()
    streams = ["sim:BTC/USDT@trade", "sim:BTC/USDT@bbo", "sim:BTC/USDT@depth"]
    assert (await client.result("subscribe", {"streams": streams}))["streams"] == streams

    gateway.market.on_market(make_trade("sim", "BTC/USDT", 1))
    trade = await client.push()
    assert trade["stream"] == "sim:BTC/USDT@trade"
    assert trade["data"] == {
        "venue": "sim",
        "symbol": "BTC/USDT",
        "id": "1",
        "price": "65000.10",
        "qty": "0.5",
        "side": "buy",
        "ts": 1_700_000_000_001,
        "recv_ts": 1_700_000_000_002,
    }

    gateway.market.on_market(make_depth("sim", "BTC/USDT", seq=7, levels=30))
    depth = await client.push()
    assert depth["stream"] == "sim:BTC/USDT@depth"
    assert len(depth["data"]["bids"]) == 20
    assert depth["data"]["bids"][0] == ["65000.00", "1.5"]
    assert depth["data"]["asks"][0] == ["65000.10", "2.25"]
    assert depth["data"]["seq"] == 7

    from gateway.core.events import Bbo

    gateway.market.on_market(
        Bbo(
            "sim", "BTC/USDT", Decimal("65000.00"), Decimal("1.5"), Decimal("65000.10"), Decimal("2.25"), 5, 6
        )
    )
    bbo = await client.push()
    assert bbo["stream"] == "sim:BTC/USDT@bbo"
    assert (bbo["data"]["bid"], bbo["data"]["ask_qty"]) == ("65000.00", "2.25")


async def test_unsubscribe_and_disconnect_release_the_bus(gateway: Gateway) -> None:
    client = await gateway.connect()
    await client.result("subscribe", {"streams": ["BTCUSDT@trade", "sim:BTC/USDT@depth5"]})
    assert gateway.bus.subscriber_count() == 2
    held = await client.result("unsubscribe", {"streams": ["sim:BTC/USDT@trade"]})  # drops its alias too
    assert held == {"streams": ["sim:BTC/USDT@depth5"]}
    assert (await client.result("subscriptions")) == {"streams": ["sim:BTC/USDT@depth5"]}
    await client.aclose()
    await gateway.wait_until(lambda: gateway.server.session_count() == 0)
    assert gateway.bus.subscriber_count() == 0


async def test_subscribe_is_all_or_nothing(gateway: Gateway) -> None:
    client = await gateway.connect()
    error = await client.error("subscribe", {"streams": ["sim:BTC/USDT@trade", "sim:NOPE/USDT@trade"]})
    assert error["code"] == "UNKNOWN_SYMBOL"
    assert error["details"]["stream"] == "sim:NOPE/USDT@trade"
    assert (await client.result("subscriptions")) == {"streams": []}
    assert gateway.bus.subscriber_count() == 0


async def test_the_seed_client_flow_works_unchanged(gateway_factory) -> None:
    gateway = await gateway_factory(venue_name="user1")
    client = await gateway.connect(auth=False)
    ws = client.ws
    await ws.send(orjson.dumps({"method": "auth", "params": {"api_key": ALPHA_KEY}, "id": 1}).decode())
    await ws.send(
        orjson.dumps(
            {"method": "subscribe", "params": {"streams": ["BTCUSDT@trade", "BTCUSDT@depth"]}, "id": 2}
        ).decode()
    )
    await ws.send(
        orjson.dumps(
            {"method": "subscribe", "params": {"streams": ["user1@account", "user1@order"]}, "id": 3}
        ).decode()
    )
    responses = [await asyncio.wait_for(client.unmatched.get(), TIMEOUT) for _ in range(3)]
    assert [r["id"] for r in responses] == [1, 2, 3]
    assert all("result" in r for r in responses), responses
    assert responses[2]["result"]["streams"] == [
        "BTCUSDT@trade",
        "BTCUSDT@depth",
        "user1@account",
        "user1@order",
    ]
    assert gateway.bus.has_subscribers(("user1", "", "balance"))  # type: ignore[arg-type]
    assert gateway.bus.has_subscribers(("user1", "BTC/USDT", "trade"))  # type: ignore[arg-type]

    gateway.market.on_market(make_trade("user1", "BTC/USDT", 3))
    push = await client.push()
    assert push["stream"] == "BTCUSDT@trade"
    assert push["data"]["price"] == "65000.10"


async def test_a_key_scoped_to_other_accounts_is_forbidden_user_streams(gateway_factory) -> None:
    gateway = await gateway_factory(venue_name="user1")
    client = await gateway.connect(SCOPED_KEY)
    error = await client.error("subscribe", {"streams": ["user1@order"]})
    assert error["code"] == "FORBIDDEN"
    assert error["details"]["account"] == "user1"
    assert (await client.result("subscribe", {"streams": ["BTCUSDT@trade"]}))["streams"] == ["BTCUSDT@trade"]


async def test_a_slow_venue_call_does_not_hold_back_pushes(gateway: Gateway) -> None:
    client = await gateway.connect()
    await client.result("subscribe", {"streams": ["sim:BTC/USDT@trade"]})
    gateway.venue.gate = asyncio.Event()
    pending = asyncio.create_task(client.call("ticker", {"symbol": "BTC/USDT"}))
    await asyncio.wait_for(gateway.venue.fetch_started.wait(), TIMEOUT)
    gateway.market.on_market(make_trade("sim", "BTC/USDT", 5))
    assert (await client.push())["data"]["id"] == "5"
    assert not pending.done()
    gateway.venue.gate.set()
    assert (await pending)["result"]["last"] == "65000.10"


async def test_a_slow_consumer_gets_conflated_market_data_not_unbounded_growth(gateway_factory) -> None:
    gateway = await gateway_factory(max_queue=16)
    # A tiny receive buffer and no reading: the server's socket fills and its queue starts conflating.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gateway.server.port))
    ws = await connect(
        gateway.url, sock=sock, max_queue=1, max_size=None, additional_headers={"X-API-KEY": ALPHA_KEY}
    )
    await ws.send('{"id": 1, "method": "subscribe", "params": {"streams": ["sim:BTC/USDT@depth50"]}}')
    assert orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["id"] == 1
    session = gateway.server.sessions_of("alpha")[0]

    published = 0
    while session.outbound.dropped == 0 and published < 20_000:
        published += 1
        gateway.market.on_market(make_depth("sim", "BTC/USDT", seq=published, levels=50))
        if published % 16 == 0:
            await asyncio.sleep(0)  # let the writer run; it blocks once the socket is full
    assert session.outbound.dropped > 0
    for n in range(1000):
        gateway.market.on_market(make_depth("sim", "BTC/USDT", seq=published + n + 1, levels=50))
    last = published + 1000
    assert len(session.outbound) <= 16 + 1  # max_queue + one waiting frame per stream

    seqs = []
    while not seqs or seqs[-1] != last:
        seqs.append(orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["data"]["seq"])
    assert seqs == sorted(seqs)
    assert len(seqs) < last  # some frames were conflated away
    await ws.close()


# --- snapshots and discovery ----------------------------------------------------------------------


async def test_venues_and_instruments(gateway: Gateway) -> None:
    client = await gateway.connect()
    assert await client.result("venues") == [
        {
            "name": "sim",
            "kind": "sim",
            "market": "spot,perp",
            "status": "open",
            "symbols": ["BTC/USDT", "ETH/USDT:USDT"],
        }
    ]
    instruments = await client.result("instruments", {"venue": "sim"})
    assert instruments[0] == {
        "symbol": "BTC/USDT",
        "native": "BTCUSDT",
        "base": "BTC",
        "quote": "USDT",
        "type": "spot",
        "tick_size": "0.01",
        "step_size": "0.0001",
        "min_qty": "0.0001",
        "min_notional": "5",
    }
    assert (await client.result("instruments"))[1]["symbol"] == "ETH/USDT:USDT"


async def test_snapshot_methods_answer_from_the_venue_when_the_cache_is_cold(gateway: Gateway) -> None:
    client = await gateway.connect()
    ticker = await client.result("ticker", {"venue": "sim", "symbol": "BTCUSDT"})
    assert (ticker["symbol"], ticker["last"]) == ("BTC/USDT", "65000.10")
    depth = await client.result("depth", {"symbol": "BTC/USDT", "limit": 5})
    assert len(depth["bids"]) == 5 and depth["stale"] is False
    bbo = await client.result("bbo", {"symbol": "BTC/USDT"})
    assert (bbo["bid"], bbo["ask"]) == ("65000.00", "65000.10")
    trades = await client.result("trades", {"symbol": "ETHUSDT", "limit": 3})
    assert [t["id"] for t in trades] == ["0", "1", "2"]
    klines = await client.result("klines", {"symbol": "BTC/USDT", "interval": "1m", "limit": 2})
    assert [k["open_ts"] for k in klines] == [0, 60_000]
    assert klines[0]["close"] == "1.5"


async def test_server_close_sends_1001_to_every_client(gateway_factory) -> None:
    gateway = await gateway_factory()
    clients = [await gateway.connect() for _ in range(3)]
    await clients[0].result("subscribe", {"streams": ["sim:BTC/USDT@trade"]})
    await gateway.server.close()
    for client in clients:
        assert await client.closed() == (1001, "going away")
    assert gateway.server.session_count() == 0
    assert gateway.bus.subscriber_count() == 0
    with pytest.raises(OSError):
        await connect(gateway.url, open_timeout=1)


async def test_order_events_that_cannot_be_sent_close_the_session_with_1013(gateway_factory) -> None:
    from structlog.testing import capture_logs

    from gateway.core.bus import StreamKey

    gateway = await gateway_factory(max_pending_user_frames=64)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gateway.server.port))
    ws = await connect(
        gateway.url, sock=sock, max_queue=1, max_size=None, additional_headers={"X-API-KEY": ALPHA_KEY}
    )
    await ws.send('{"id": 1, "method": "subscribe", "params": {"streams": ["sim@order"]}}')
    assert orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["id"] == 1
    session = gateway.server.sessions_of("alpha")[0]

    key = StreamKey("sim", "", "order")
    payload = {"order_id": "x" * 2000, "price": Decimal("1.5")}
    with capture_logs() as logs:
        published = 0
        while not session.outbound.is_closing() and published < 100_000:
            published += 1
            gateway.bus.publish(key, payload, False)
            if published % 16 == 0:
                await asyncio.sleep(0)  # let the writer run until the socket is full
        assert session.outbound.close_code == 1013
        frames = 0
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
                frames += 1
        assert frames < published  # nothing beyond the limit was queued
        assert (ws.close_code, ws.close_reason) == (1013, "slow consumer")
        await gateway.wait_until(lambda: gateway.server.session_count() == 0)
    assert any(entry["event"] == "session.slow_consumer" for entry in logs)
