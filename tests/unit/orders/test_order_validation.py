import re

import pytest

from gateway.core.enums import OrderType, Side, TimeInForce
from gateway.core.errors import ErrorCode, GatewayError
from gateway.core.ports import Capabilities
from gateway.orders.commands import PlaceParams
from gateway.orders.validation import ClientIdGenerator, check_client_order_id, normalize_amend, normalize_place
from orders_testkit import CAPS, INSTRUMENT, D


def params(**kw: object) -> PlaceParams:
    base: dict[str, object] = {"symbol": "BTC/USDT", "side": Side.BUY, "type": OrderType.LIMIT, "qty": D("1"),
                               "price": D("100")}
    base.update(kw)
    return PlaceParams(**base)  # type: ignore[arg-type]


def code_of(p: PlaceParams, caps: Capabilities = CAPS) -> ErrorCode:
    with pytest.raises(GatewayError) as info:
        normalize_place(p, INSTRUMENT, caps)
    return info.value.code


def test_buy_price_rounds_down_sell_price_up_size_down() -> None:
    buy = normalize_place(params(price=D("100.019"), qty=D("1.2349")), INSTRUMENT, CAPS)
    assert (buy.price, buy.qty) == (D("100.01"), D("1.234"))
    sell = normalize_place(params(side=Side.SELL, price=D("100.011")), INSTRUMENT, CAPS)
    assert sell.price == D("100.02")


def test_trigger_rounds_half_up() -> None:
    stop = normalize_place(params(type=OrderType.STOP, price=None, trigger_price=D("99.995")), INSTRUMENT, CAPS)
    assert stop.trigger_price == D("100.00") and stop.price is None
    stop = normalize_place(params(type=OrderType.STOP_LIMIT, trigger_price=D("99.994")), INSTRUMENT, CAPS)
    assert stop.trigger_price == D("99.99")


def test_size_rounding_to_zero_is_precision() -> None:
    assert code_of(params(qty=D("0.0009"))) is ErrorCode.PRECISION


def test_price_rounding_to_zero_is_precision() -> None:
    assert code_of(params(price=D("0.001"))) is ErrorCode.PRECISION


def test_below_min_qty_and_min_notional() -> None:
    instrument = INSTRUMENT
    assert code_of(params(qty=D("0.01"), price=D("100"))) is ErrorCode.MIN_NOTIONAL  # 1 < 5
    ok = normalize_place(params(qty=D("0.05"), price=D("100")), instrument, CAPS)  # exactly 5
    assert ok.notional == D("5.00000")
    from dataclasses import replace
    bigger_min = replace(INSTRUMENT, min_qty=D("0.1"))
    with pytest.raises(GatewayError) as info:
        normalize_place(params(qty=D("0.05")), bigger_min, CAPS)
    assert info.value.code is ErrorCode.MIN_NOTIONAL


@pytest.mark.parametrize("kw", [
    {"qty": D("0")},
    {"qty": D("-1")},
    {"price": None},  # limit needs a price
    {"price": D("-1")},
    {"type": OrderType.MARKET},  # market with a price
    {"type": OrderType.STOP_LIMIT},  # no trigger
    {"trigger_price": D("100")},  # trigger on a plain limit
    {"type": OrderType.MARKET, "price": None, "tif": TimeInForce.POST_ONLY},
])
def test_shape_errors_are_invalid_params(kw: dict[str, object]) -> None:
    assert code_of(params(**kw)) is ErrorCode.INVALID_PARAMS


def test_capabilities_gate_stop_post_only_reduce_only() -> None:
    bare = Capabilities(stop_orders=False, post_only=False, reduce_only=False)
    assert code_of(params(type=OrderType.STOP, price=None, trigger_price=D("90")), bare) is ErrorCode.NOT_SUPPORTED
    assert code_of(params(tif=TimeInForce.POST_ONLY), bare) is ErrorCode.NOT_SUPPORTED
    assert code_of(params(reduce_only=True), bare) is ErrorCode.NOT_SUPPORTED
    assert normalize_place(params(tif=TimeInForce.POST_ONLY, reduce_only=True), INSTRUMENT, CAPS).reduce_only


def test_market_order_checks_min_qty_only() -> None:
    market = normalize_place(params(type=OrderType.MARKET, price=None, qty=D("0.001")), INSTRUMENT, CAPS)
    assert market.price is None and market.qty == D("0.001")


@pytest.mark.parametrize("coid", ["", "x" * 37, "has space", "dot.ted", "ünï"])
def test_bad_client_ids_are_invalid_params(coid: str) -> None:
    with pytest.raises(GatewayError) as info:
        check_client_order_id(coid, CAPS)
    assert info.value.code is ErrorCode.INVALID_PARAMS
    assert code_of(params(client_order_id=coid)) is ErrorCode.INVALID_PARAMS if coid else True


def test_good_client_ids_pass() -> None:
    for coid in ["a", "A-b_9", "x" * 36]:
        check_client_order_id(coid, CAPS)


@pytest.mark.parametrize(("max_len", "alphabet"), [(36, "A-Za-z0-9_-"), (32, "0-9"), (20, "a-z0-9"), (16, "A-Z0-9")])
def test_generated_ids_fit_the_venue_and_are_unique(max_len: int, alphabet: str) -> None:
    caps = Capabilities(client_order_id_max_len=max_len, client_order_id_alphabet=alphabet)
    first = ClientIdGenerator(1_700_000_000_000)
    ids = [first.next(caps) for _ in range(5000)]
    later = ClientIdGenerator(1_700_000_000_001)  # a restart one millisecond later
    ids += [later.next(caps) for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    pattern = re.compile(f"[{alphabet}]+")
    for coid in ids:
        assert len(coid) <= max_len and pattern.fullmatch(coid), coid
        check_client_order_id(coid, caps)


def test_from_mapping_parses_strings_and_refuses_junk() -> None:
    p = PlaceParams.from_mapping({"symbol": "BTCUSDT", "side": "SELL", "qty": "0.5", "price": "101.5",
                                  "tif": "ioc", "client_order_id": "abc"})
    assert (p.side, p.type, p.qty, p.price, p.tif) == (Side.SELL, OrderType.LIMIT, D("0.5"), D("101.5"), TimeInForce.IOC)
    for bad in [{"side": "up"}, {"qty": "abc"}, {"qty": None}, {"qty": "NaN"}, {"symbol": ""},
                {"reduce_only": "yes"}, {"type": "iceberg"}]:
        with pytest.raises(GatewayError) as info:
            PlaceParams.from_mapping({"symbol": "BTCUSDT", "side": "buy", "qty": "1", **bad})
        assert info.value.code is ErrorCode.INVALID_PARAMS, bad


def test_amend_quantizes_and_refuses() -> None:
    assert normalize_amend(D("1.2345"), D("100.019"), Side.BUY, INSTRUMENT, True) == (D("1.234"), D("100.01"))
    for args, code in [((None, None), ErrorCode.INVALID_PARAMS), ((D("0.0001"), None), ErrorCode.PRECISION),
                       ((None, D("-1")), ErrorCode.INVALID_PARAMS)]:
        with pytest.raises(GatewayError) as info:
            normalize_amend(*args, Side.BUY, INSTRUMENT, True)
        assert info.value.code is code
    with pytest.raises(GatewayError):
        normalize_amend(None, D("100"), Side.BUY, INSTRUMENT, False)
