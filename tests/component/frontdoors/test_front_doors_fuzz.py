"""Property tests on both HTTP front doors (FMZ bridge, REST API) over real HTTP on loopback.

Random bodies, params and headers never produce a 500 or a traceback, every answer is the front door's
error shape, and nothing changes: no order is placed, balances and leverage stay as they were.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.api.fmz.protocol import METHODS
from gateway.api.rest.spec import ENDPOINTS
from tests.component.frontdoors.helpers import (
    FMZ_ACCESS,
    FMZ_SECRET,
    READER_ACCESS,
    READER_KEY,
    READER_SECRET,
    front_door_overrides,
    serve_front_doors,
)
from tests.conftest import LOCAL_KEY

FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

TOKEN = string.ascii_letters + string.digits + "-_"
HEADER_VALUE = st.text(alphabet=string.printable.strip() + " ", max_size=40)
HEADERS = st.dictionaries(st.sampled_from(["Http-Method", "Content-Type", "X-Api-Key", "X-Thing", "Accept"]),
                          HEADER_VALUE, max_size=3)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                   st.text(max_size=30))
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=3), max_leaves=8)
# Methods a trading key may fuzz without changing state (trade, cancel and marginlevel would, if valid).
SAFE_FMZ_METHODS = sorted({*METHODS} - {"trade", "cancel", "marginlevel"}) + ["__api_/x", "nope", ""]


@pytest.fixture
async def doors(gateway_factory):
    gateway = await gateway_factory(**front_door_overrides())
    async with serve_front_doors(gateway) as front:
        before = await state(front)
        yield front
        assert await state(front) == before  # nothing the fuzzers sent changed anything


async def state(doors) -> tuple:
    orders = doors.gateway.orders
    open_orders = await orders.open_orders("sim")
    history = await orders.history("sim")
    venue = doors.gateway.directory.venue("sim")
    balances = sorted((b.asset, b.free, b.locked) for b in await venue.balances())
    positions = sorted((p.symbol, p.qty, p.leverage) for p in venue.engine.positions("sim", 0))
    return len(open_orders), len(history), balances, positions


def check_fmz(status: int, body: object) -> None:
    assert status < 500 or status in (501, 503), (status, body)
    assert isinstance(body, dict)
    if status != 200:
        assert set(body) == {"error"} and isinstance(body["error"], str), body
        assert "Traceback" not in body["error"]


def check_rest(status: int, body: object) -> None:
    assert status < 500 or status in (501, 503), (status, body)
    if status != 200:
        assert isinstance(body, dict) and set(body) == {"code", "msg"}, body
        assert "Traceback" not in body["msg"]


@FUZZ
@given(body=st.binary(max_size=300), path=st.sampled_from(["/sim", "/", "/x", "/sim/"]), headers=HEADERS)
async def test_fmz_random_bytes(doors, body, path, headers) -> None:
    check_fmz(*await doors.fmz_raw(path, body, headers=headers))


@FUZZ
@given(body=JSON, headers=HEADERS)
async def test_fmz_random_json(doors, body, headers) -> None:
    check_fmz(*await doors.fmz_raw("/sim", body, headers=headers))


FMZ_PARAM_NAMES = ["symbol", "limit", "period", "id", "since", "amount", "price", "type", "marginLevel"]
METHOD_PARAMS = {"ticker": ["symbol"], "depth": ["symbol", "limit"], "trades": ["symbol", "limit"],
                 "records": ["symbol", "period", "limit"], "accounts": [], "assets": [],
                 "trade": ["symbol", "type", "amount", "price"], "orders": ["symbol"], "order": ["id", "symbol"],
                 "historyorders": ["symbol", "since", "limit"], "cancel": ["id", "symbol"],
                 "positions": ["symbol"], "marginlevel": ["symbol", "marginLevel"], "fundings": ["symbol"]}
FMZ_VALUES = st.sampled_from(["ETH_USDT", "eth_usdt", "BTC_USDT.swap", "BTC_USDT.quarter", "USDT", "BTCUSDT",
                              "ETH-USDT,1", "BTC-USDT-SWAP,1", "ETH-USDT,cid:x", ",", "-1", "0", "1", "60", "7",
                              "500", "0.1", "buy", "closebuy", "NaN", "", "1e400"])


@settings(max_examples=600, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_fmz_structured_requests(doors, data) -> None:
    keys = data.draw(st.sampled_from([(FMZ_ACCESS, FMZ_SECRET)] * 4 + [(READER_ACCESS, READER_SECRET)] * 4
                                     + [(FMZ_ACCESS, READER_SECRET), ("x" * 8, "y" * 8)]))
    trading = keys == (FMZ_ACCESS, FMZ_SECRET)
    methods = SAFE_FMZ_METHODS if trading else [*METHODS, "__api_/x", "nope"]
    method = data.draw(st.sampled_from(methods * 4) | st.text(max_size=12))
    if trading and method.lower() in {"trade", "cancel", "marginlevel", "setmarginlevel"}:
        method = "ticker"  # the trading key may place orders: keep its fuzz to methods that change nothing
    symbols = st.sampled_from(["ETH_USDT", "eth_usdt", "BTC_USDT.swap", "ETH_USDT", "BTC_USDT.swap", "USDT",
                               "BTC_USDT.quarter", "BTCUSDT"])
    relevant = METHOD_PARAMS.get(method.lower(), FMZ_PARAM_NAMES)
    params = {}
    for name in relevant:  # each param the method reads, most of the time, plausible or not
        if data.draw(st.sampled_from([True, True, True, False])):
            params[name] = data.draw((symbols if name == "symbol" else FMZ_VALUES) | SCALAR)
    params.update(data.draw(st.dictionaries(st.text(max_size=6), SCALAR, max_size=1)))
    headers = data.draw(HEADERS)
    path = data.draw(st.sampled_from(["/sim"] * 6 + ["/readonly", "/other"]))
    check_fmz(*await doors.fmz(method, params, access_key=keys[0], secret_key=keys[1], headers=headers,
                               path=path))


@FUZZ
@given(body=st.binary(max_size=200) | JSON.map(lambda v: v), headers=HEADERS,
       endpoint=st.sampled_from(ENDPOINTS), key=st.sampled_from([None, "", READER_KEY, "wrong-key-123"]))
async def test_rest_random_bodies(doors, body, headers, endpoint, key) -> None:
    kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
    headers = {k: v for k, v in headers.items() if k.lower() != "x-api-key"}
    check_rest(*await doors.rest(endpoint.method, endpoint.path, key=key or None, headers=headers, **kwargs))


PLAUSIBLE = st.sampled_from(["BTCUSDT", "BTC/USDT", "ETHUSDT", "BTCUSDT_PERP", "sim", "BUY", "sell", "LIMIT",
                             "MARKET", "LIMIT_MAKER", "GTC", "IOC", "1m", "1h", "0", "1", "5", "0.01", "-1", "1e3",
                             "NaN", "Infinity", "", " ", "99999999999999999999999", "abc"])


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_rest_random_params(doors, data) -> None:
    endpoint = data.draw(st.sampled_from(ENDPOINTS))
    names = [p.name for p in endpoint.params]
    key_names = st.sampled_from(names) | st.text(alphabet=TOKEN, min_size=1, max_size=6) if names else st.text(
        alphabet=TOKEN, min_size=1, max_size=6)
    params = data.draw(st.dictionaries(key_names, PLAUSIBLE | st.text(max_size=20), max_size=len(names) + 1))
    method = data.draw(st.sampled_from([endpoint.method] * 4 + ["GET", "POST", "DELETE", "PUT", "PATCH"]))
    key = data.draw(st.sampled_from([READER_KEY] * 4 + [LOCAL_KEY] * 4 + ["wrong-key-123"]))
    if key == LOCAL_KEY and method in ("POST", "DELETE"):
        key = READER_KEY  # a trading key with valid params would trade: fuzz the parsing as a reader
    as_body = method in ("POST", "DELETE") and data.draw(st.booleans())
    kwargs = {"json": params} if as_body else {"params": params}
    check_rest(*await doors.rest(method, endpoint.path, key=key, **kwargs))


# --- every param of every method, one tricky value at a time (the rest valid) ----------------------------

TRICKY = [None, True, False, 0, -1, 1, 7, 2**63, -(2**63), 1.5, -1.0, 1e308, "", " ", "0", "-1", "7", "1e400",
          "NaN", "Infinity", "abc", "ETH_USDT", "BTC_USDT.swap", "BTC_USDT.quarter", "USDT", "_", "ETH_", ".swap",
          "ETH-USDT,1", "ETH-USDT,cid:", ",", "cid:x", "x" * 300, "\u0000", "\ud800", [], {}, [1], {"a": 1}]
VALID_FMZ = {"ticker": {"symbol": "ETH_USDT"}, "depth": {"symbol": "ETH_USDT", "limit": "5"},
             "trades": {"symbol": "ETH_USDT"}, "records": {"symbol": "ETH_USDT", "period": "1", "limit": "5"},
             "orders": {"symbol": "ETH_USDT"}, "order": {"id": "ETH-USDT,1", "symbol": "ETH_USDT"},
             "historyorders": {"symbol": "ETH_USDT", "since": 0, "limit": 0},
             "positions": {"symbol": "BTC_USDT.swap"}, "fundings": {"symbol": "BTC_USDT.swap"},
             "trade": {"symbol": "ETH_USDT", "type": "buy", "amount": "0.1", "price": "1000"},
             "cancel": {"id": "ETH-USDT,1", "symbol": "ETH_USDT"},
             "marginlevel": {"symbol": "BTC_USDT.swap", "marginLevel": 5}}
STATEFUL = {"trade", "cancel", "marginlevel"}


async def test_fmz_every_param_with_every_tricky_value(doors) -> None:
    for method, valid in VALID_FMZ.items():
        # The trading key for methods that change nothing; the read-only key (refused after parsing) otherwise.
        keys = (READER_ACCESS, READER_SECRET) if method in STATEFUL else (FMZ_ACCESS, FMZ_SECRET)
        for name in [*valid, "extra"]:
            for value in TRICKY:
                params = {**valid, name: value}
                status, body = await doors.fmz(method, params, access_key=keys[0], secret_key=keys[1])
                assert status < 500 or status in (501, 503), (method, params, status, body)
                check_fmz(status, body)


VALID_REST = {"symbol": "BTCUSDT", "limit": "5", "interval": "1m", "side": "BUY", "type": "LIMIT",
              "quantity": "0.001", "price": "1000", "orderId": "1"}
TRICKY_TEXT = ["", " ", "0", "-1", "1.5", "1e400", "NaN", "Infinity", "abc", "BTC/USDT", "btcusdt", "1M", "buy",
               "x" * 300, "\u0000", "99999999999999999999999"]


async def test_rest_every_param_with_every_tricky_value(doors) -> None:
    for endpoint in ENDPOINTS:
        valid = {p.name: VALID_REST[p.name] for p in endpoint.params if p.required}
        key = READER_KEY if endpoint.method in ("POST", "DELETE") else LOCAL_KEY
        for param in [*endpoint.params, None]:
            name = param.name if param is not None else "extra"
            for value in TRICKY_TEXT:
                params = {**valid, name: value}
                status, body = await doors.rest(endpoint.method, endpoint.path, key=key, params=params)
                check_rest(status, body)
                if endpoint.method in ("POST", "DELETE"):
                    check_rest(*await doors.rest(endpoint.method, endpoint.path, key=key, json=params))
