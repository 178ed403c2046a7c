"""Scenarios of the sim matching engine: priority, order types, TIFs, triggers, amend, accounts."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from gateway.core.enums import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from gateway.venues.sim.matching import (
    BalanceEvent,
    BookEvent,
    FillEvent,
    MatchingEngine,
    OrderEvent,
    OrderRefused,
    PositionEvent,
    TradeEvent,
)

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
TAKER_FEE = D("0.002")


def place(engine: MatchingEngine, account: str, side: Side, qty: str, price: str | None = None,
          type: OrderType = LIMIT, symbol: str = SPOT, now: int = 1, **kw) -> tuple[OrderEvent, list]:
    events = engine.place(account, symbol, side, type, D(qty), now, price=D(price) if price else None, **kw)
    return engine.order(account, order_id=engine.last_order_id), events


def of(events: list, kind: type) -> list:
    return [e for e in events if type(e) is kind]


def state(engine: MatchingEngine, account: str, order: OrderEvent) -> OrderEvent:
    found = engine.order(account, order_id=order.order_id)
    assert found is not None
    return found


# --- priority and partial fills ------------------------------------------------------------------------


def test_earlier_order_at_same_price_fills_first(engine: MatchingEngine) -> None:
    first, _ = place(engine, "a", SELL, "1", "100")
    second, _ = place(engine, "b", SELL, "1", "100")
    taker, events = place(engine, "c", BUY, "1.5", type=MARKET)
    assert state(engine, "a", first).status is OrderStatus.FILLED
    assert state(engine, "b", second).filled_qty == D("0.5")
    assert taker.status is OrderStatus.FILLED
    fills = of(events, FillEvent)
    assert [(f.account, f.qty, f.liquidity) for f in fills] == [
        ("a", D(1), Liquidity.MAKER), ("c", D(1), Liquidity.TAKER),
        ("b", D("0.5"), Liquidity.MAKER), ("c", D("0.5"), Liquidity.TAKER),
    ]
    assert fills[0].trade_id == fills[1].trade_id != fills[2].trade_id


def test_better_price_fills_before_earlier_order(engine: MatchingEngine) -> None:
    place(engine, "a", SELL, "1", "101")
    better, _ = place(engine, "b", SELL, "1", "100")
    taker, events = place(engine, "c", BUY, "1", "101")
    assert state(engine, "b", better).status is OrderStatus.FILLED
    assert [t.price for t in of(events, TradeEvent)] == [D(100)]
    assert taker.avg_price == D(100)


def test_limit_order_partially_fills_then_rests(engine: MatchingEngine) -> None:
    place(engine, "a", SELL, "1", "99")
    place(engine, "b", SELL, "0.5", "100")
    place(engine, "a", SELL, "1", "101")
    taker, events = place(engine, "c", BUY, "2", "100")
    assert taker.status is OrderStatus.PARTIALLY_FILLED
    assert taker.filled_qty == D("1.5")
    assert taker.avg_price == (D(99) + D(50)) / D("1.5")
    bids, asks, _ = engine.depth(SPOT, 5)
    assert bids == ((D(100), D("0.5")),)
    assert asks == ((D(101), D(1)),)
    assert of(events, OrderEvent)[0].status is OrderStatus.NEW  # the ack comes first
    assert of(events, BookEvent)[-1].seq == engine.book_seq(SPOT)


def test_book_sequence_increases_on_every_change(engine: MatchingEngine) -> None:
    seqs = [engine.book_seq(SPOT)]
    order, _ = place(engine, "a", BUY, "1", "100")
    seqs.append(engine.book_seq(SPOT))
    engine.cancel("a", 2, order_id=order.order_id)
    seqs.append(engine.book_seq(SPOT))
    assert seqs == sorted(set(seqs))


# --- order types and time in force ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tif", "qty", "status", "filled"),
    [
        (TimeInForce.GTC, "3", OrderStatus.PARTIALLY_FILLED, "2"),
        (TimeInForce.IOC, "3", OrderStatus.EXPIRED, "2"),
        (TimeInForce.IOC, "1", OrderStatus.FILLED, "1"),
        (TimeInForce.FOK, "3", OrderStatus.EXPIRED, "0"),
        (TimeInForce.FOK, "2", OrderStatus.FILLED, "2"),
    ],
)
def test_time_in_force(engine: MatchingEngine, tif: TimeInForce, qty: str, status: OrderStatus, filled: str) -> None:
    place(engine, "a", SELL, "1", "100")
    place(engine, "b", SELL, "1", "101")
    place(engine, "a", SELL, "5", "102")
    order, events = place(engine, "c", BUY, qty, "101", tif=tif)
    assert (order.status, order.filled_qty) == (status, D(filled))
    if tif is TimeInForce.FOK and filled == "0":
        assert of(events, FillEvent) == []
        assert engine.depth(SPOT, 5)[1][0] == (D(100), D(1))
    resting = [o.order_id for o in engine.open_orders("c")]
    assert (order.order_id in resting) is (status is OrderStatus.PARTIALLY_FILLED)


def test_post_only_is_refused_when_it_would_take(engine: MatchingEngine) -> None:
    place(engine, "a", SELL, "1", "100")
    with pytest.raises(OrderRefused) as refused:
        place(engine, "b", BUY, "1", "100", tif=TimeInForce.POST_ONLY)
    assert refused.value.reason == "post_only_would_take"
    maker, _ = place(engine, "b", BUY, "1", "99.99", tif=TimeInForce.POST_ONLY)
    assert maker.status is OrderStatus.NEW
    assert engine.open_orders("b") == [maker]


def test_market_order_on_empty_side_expires(engine: MatchingEngine) -> None:
    order, events = place(engine, "a", BUY, "1", type=MARKET)
    assert (order.status, order.filled_qty, order.reason) == (OrderStatus.EXPIRED, D(0), "no_liquidity")
    assert engine.balance_of("a", "USDT") == (D(100_000), D(0))


def test_market_order_on_thin_book_fills_what_exists_and_expires_the_rest(engine: MatchingEngine) -> None:
    place(engine, "a", BUY, "0.4", "100")
    place(engine, "b", BUY, "0.3", "99")
    order, events = place(engine, "c", SELL, "1", type=MARKET)
    assert (order.status, order.filled_qty) == (OrderStatus.EXPIRED, D("0.7"))
    assert [t.price for t in of(events, TradeEvent)] == [D(100), D(99)]
    assert engine.bbo(SPOT) == (None, None, None, None)
    assert engine.balance_of("c", "BTC") == (D("9.3"), D(0))


# --- conditional orders --------------------------------------------------------------------------------


def trade_at(engine: MatchingEngine, price: str, now: int = 5) -> None:
    place(engine, "a", SELL, "0.01", price, now=now)
    _, events = place(engine, "b", BUY, "0.01", price, now=now)
    assert of(events, TradeEvent)[0].price == D(price)


@pytest.mark.parametrize(
    ("type", "side", "trigger", "quiet", "firing"),
    [
        (OrderType.STOP, BUY, "105", "104.99", "105"),
        (OrderType.STOP, SELL, "95", "95.01", "95"),
        (OrderType.TAKE_PROFIT, BUY, "95", "95.01", "94"),
        (OrderType.TAKE_PROFIT, SELL, "105", "104.99", "106"),
    ],
)
def test_conditional_market_orders_fire_when_last_price_crosses(
    engine: MatchingEngine, type: OrderType, side: Side, trigger: str, quiet: str, firing: str
) -> None:
    trade_at(engine, "100")
    order, _ = place(engine, "c", side, "0.5", type=type, trigger_price=D(trigger))
    assert order.status is OrderStatus.NEW and not order.triggered
    trade_at(engine, quiet)
    assert not state(engine, "c", order).triggered
    # liquidity for the triggered market order to take, then the crossing trade
    place(engine, "a", SELL, "1", "110")
    place(engine, "b", BUY, "1", "90")
    trade_at(engine, firing)
    fired = state(engine, "c", order)
    assert fired.triggered and fired.status is OrderStatus.FILLED
    assert fired.avg_price == (D(110) if side is BUY else D(90))


def test_stop_limit_becomes_a_resting_limit_order(engine: MatchingEngine) -> None:
    trade_at(engine, "100")
    order, _ = place(engine, "c", BUY, "1", "106", type=OrderType.STOP_LIMIT, trigger_price=D("105"))
    assert engine.depth(SPOT, 5)[0] == ()
    trade_at(engine, "105")
    fired = state(engine, "c", order)
    assert fired.triggered and fired.status is OrderStatus.NEW
    assert engine.depth(SPOT, 5)[0] == ((D(106), D(1)),)


def test_conditional_order_placed_already_crossed_triggers_at_once(engine: MatchingEngine) -> None:
    trade_at(engine, "100")
    order, _ = place(engine, "c", SELL, "1", "99", type=OrderType.STOP_LIMIT, trigger_price=D("101"))
    assert order.triggered and engine.depth(SPOT, 5)[1] == ((D(99), D(1)),)


def test_triggered_order_that_cannot_be_funded_expires(engine_factory) -> None:
    engine = engine_factory(usdt=1_000)
    trade_at(engine, "100")
    order, _ = place(engine, "c", BUY, "100", "100", type=OrderType.STOP_LIMIT, trigger_price=D("101"))
    trade_at(engine, "101")
    fired = state(engine, "c", order)
    assert (fired.status, fired.reason) == (OrderStatus.EXPIRED, "insufficient_balance")


def test_cancel_untriggered_conditional_order(engine: MatchingEngine) -> None:
    trade_at(engine, "100")
    order, _ = place(engine, "c", BUY, "1", type=OrderType.STOP, trigger_price=D("105"))
    engine.cancel("c", 9, order_id=order.order_id)
    trade_at(engine, "105")
    assert state(engine, "c", order).status is OrderStatus.CANCELED


# --- cancel, amend, client ids, validation -------------------------------------------------------------


def test_cancel_by_order_id_and_client_order_id(engine: MatchingEngine) -> None:
    first, _ = place(engine, "a", BUY, "1", "100", client_order_id="x1")
    second, _ = place(engine, "a", BUY, "1", "99", client_order_id="x2")
    events = engine.cancel("a", 2, order_id=first.order_id)
    assert of(events, OrderEvent)[0].status is OrderStatus.CANCELED
    engine.cancel("a", 2, client_order_id="x2")
    assert state(engine, "a", second).status is OrderStatus.CANCELED
    assert engine.open_orders("a") == []
    assert engine.balance_of("a", "USDT") == (D(100_000), D(0))


@pytest.mark.parametrize(
    ("account", "order_id", "client_id", "reason"),
    [
        ("a", "999", None, "order_not_found"),
        ("a", None, "nope", "order_not_found"),
        ("b", "1", None, "order_not_found"),  # someone else's order
        ("a", "2", None, "order_not_open"),  # already filled
    ],
)
def test_cancel_refusals(engine: MatchingEngine, account: str, order_id, client_id, reason: str) -> None:
    place(engine, "a", BUY, "1", "100")  # id 1
    place(engine, "a", SELL, "1", type=MARKET)  # id 2, fills against itself
    with pytest.raises(OrderRefused) as refused:
        engine.cancel(account, 2, order_id=order_id, client_order_id=client_id)
    assert refused.value.reason == reason


def test_duplicate_client_order_id_is_refused_per_account(engine: MatchingEngine) -> None:
    place(engine, "a", BUY, "1", "100", client_order_id="dup")
    with pytest.raises(OrderRefused) as refused:
        place(engine, "a", BUY, "1", "99", client_order_id="dup")
    assert refused.value.reason == "duplicate_client_order_id"
    place(engine, "b", BUY, "1", "99", client_order_id="dup")  # another account may use it


@pytest.mark.parametrize(
    ("qty", "price", "type", "trigger", "reason"),
    [
        ("1", "100.001", LIMIT, None, "price_off_tick"),
        ("1.0001", "100", LIMIT, None, "qty_off_step"),
        ("0", "100", LIMIT, None, "qty_off_step"),
        ("1", None, LIMIT, None, "price_off_tick"),
        ("1", None, OrderType.STOP, "100.005", "price_off_tick"),
        ("1", None, OrderType.STOP, None, "price_off_tick"),
    ],
)
def test_invalid_input_is_refused_and_changes_nothing(
    engine: MatchingEngine, qty: str, price, type: OrderType, trigger, reason: str
) -> None:
    seq = engine.book_seq(SPOT)
    with pytest.raises(OrderRefused) as refused:
        place(engine, "a", BUY, qty, price, type=type, trigger_price=D(trigger) if trigger else None)
    assert refused.value.reason == reason
    assert engine.book_seq(SPOT) == seq and engine.open_orders("a") == []


def queue_at_100(engine: MatchingEngine) -> tuple[OrderEvent, OrderEvent]:
    first, _ = place(engine, "a", SELL, "1", "100")
    second, _ = place(engine, "b", SELL, "1", "100")
    return first, second


@pytest.mark.parametrize(
    ("qty", "price", "first_keeps_priority"),
    [("0.5", None, True), ("1", None, True), ("2", None, False), (None, "100.01", False)],
)
def test_amend_priority_rules(engine: MatchingEngine, qty, price, first_keeps_priority: bool) -> None:
    first, second = queue_at_100(engine)
    engine.amend("a", 2, order_id=first.order_id, qty=D(qty) if qty else None, price=D(price) if price else None)
    if price:
        engine.amend("a", 3, order_id=first.order_id, price=D(100))  # back to 100, still at the back
    _, events = place(engine, "c", BUY, "0.5", type=MARKET)
    maker = of(events, FillEvent)[0]
    assert (maker.account == "a") is first_keeps_priority


def test_amend_below_filled_qty_is_refused(engine: MatchingEngine) -> None:
    order, _ = place(engine, "a", SELL, "2", "100")
    place(engine, "c", BUY, "1", type=MARKET)
    for qty in ("0.5", "1"):
        with pytest.raises(OrderRefused) as refused:
            engine.amend("a", 2, order_id=order.order_id, qty=D(qty))
        assert refused.value.reason == "amend_qty_below_filled"
    engine.amend("a", 2, order_id=order.order_id, qty=D("1.5"))
    assert state(engine, "a", order).qty == D("1.5")
    assert engine.depth(SPOT, 1)[1] == ((D(100), D("0.5")),)


def test_amend_to_a_crossing_price_takes(engine: MatchingEngine) -> None:
    place(engine, "a", SELL, "1", "101")
    order, _ = place(engine, "b", BUY, "1", "100")
    events = engine.amend("b", 2, order_id=order.order_id, price=D(101))
    assert state(engine, "b", order).status is OrderStatus.FILLED
    assert of(events, TradeEvent)[0].price == D(101)


def test_amend_adjusts_the_hold(engine: MatchingEngine) -> None:
    order, _ = place(engine, "a", BUY, "1", "100")
    assert engine.balance_of("a", "USDT")[1] == D("100.2")
    engine.amend("a", 2, order_id=order.order_id, qty=D(2), price=D(50))
    assert engine.balance_of("a", "USDT") == (D(100_000) - D("100.2"), D("100.2"))
    with pytest.raises(OrderRefused) as refused:
        engine.amend("a", 3, order_id=order.order_id, qty=D(10_000))
    assert refused.value.reason == "insufficient_balance"


# --- spot balances -------------------------------------------------------------------------------------


def test_spot_holds_release_on_cancel_and_settle_on_fill(engine: MatchingEngine) -> None:
    buy, events = place(engine, "a", BUY, "2", "100")
    assert engine.balance_of("a", "USDT") == (D(100_000) - D("200.4"), D("200.4"))
    assert of(events, BalanceEvent)[0].locked == D("200.4")
    sell, _ = place(engine, "b", SELL, "3", "100")
    # a: paid 200 + maker fee 0.2; b: sold 2 for 200 - taker fee 0.4, 1 BTC still held
    assert engine.balance_of("a", "USDT") == (D(100_000) - D("200.2"), D(0))
    assert engine.balance_of("a", "BTC") == (D(12), D(0))
    assert engine.balance_of("b", "USDT") == (D(100_000) + D("199.6"), D(0))
    assert engine.balance_of("b", "BTC") == (D(7), D(1))
    engine.cancel("b", 3, order_id=sell.order_id)
    assert engine.balance_of("b", "BTC") == (D(8), D(0))
    assert engine.ledger.fees["USDT"] == D("0.6")


def test_insufficient_balance_is_refused(engine_factory) -> None:
    engine = engine_factory(usdt=100, btc=1)
    with pytest.raises(OrderRefused) as refused:
        place(engine, "a", BUY, "1", "100")  # needs 100.2 with the fee
    assert refused.value.reason == "insufficient_balance"
    with pytest.raises(OrderRefused):
        place(engine, "a", SELL, "1.001", "100")
    place(engine, "b", SELL, "1", "50")
    place(engine, "c", SELL, "1", "60")
    with pytest.raises(OrderRefused):  # a market buy is checked against the cost of walking the book
        place(engine, "a", BUY, "2", type=MARKET)  # 110 * 1.002
    order, _ = place(engine, "a", BUY, "1", type=MARKET)  # 50 * 1.002 is affordable
    assert order.status is OrderStatus.FILLED
    assert engine.balance_of("a", "USDT") == (D("49.9"), D(0))


def test_house_accounts_skip_balance_checks(engine: MatchingEngine) -> None:
    engine.open_account("house", house=True)
    place(engine, "house", SELL, "5", "100")
    place(engine, "a", BUY, "5", type=MARKET)
    assert engine.balance_of("house", "BTC") == (D(-5), D(0))
    assert engine.balance_of("house", "USDT") == (D("499.5"), D(0))


# --- perps ---------------------------------------------------------------------------------------------


def perp_trade(engine: MatchingEngine, account: str, side: Side, qty: str, price: str) -> list:
    engine.open_account("house", house=True)
    place(engine, "house", side.opposite, qty, price, symbol=PERP)
    _, events = place(engine, account, side, qty, price, symbol=PERP)
    return events


@pytest.mark.parametrize(
    ("trades", "qty", "entry", "realized"),
    [
        ([(BUY, "1", "100")], "1", "100", "0"),
        ([(BUY, "1", "100"), (BUY, "3", "120")], "4", "115", "0"),
        ([(BUY, "2", "100"), (SELL, "1", "110")], "1", "100", "10"),
        ([(SELL, "2", "100"), (BUY, "1", "110")], "-1", "100", "-10"),
        ([(BUY, "1", "100"), (SELL, "3", "90")], "-2", "90", "-10"),  # flip: the rest opens at the fill
        ([(BUY, "1", "100"), (SELL, "1", "130")], "0", "0", "30"),
    ],
)
def test_perp_position_entry_and_realized_pnl(engine: MatchingEngine, trades, qty, entry, realized) -> None:
    # 'a' takes every time, so it pays the taker fee on each trade
    for side, size, price in trades:
        perp_trade(engine, "a", side, size, price)
    position = engine.ledger.position("a", PERP)
    assert (position.qty, position.entry_price, position.realized_pnl) == (D(qty), D(entry), D(realized))
    assert position.margin == abs(D(qty)) * D(entry) / 10
    free, locked = engine.balance_of("a", "USDT")
    assert locked == position.margin
    fees = sum(D(size) * D(price) * TAKER_FEE for _, size, price in trades)
    assert free + locked == D(100_000) + D(realized) - fees


def test_perp_mark_price_drives_unrealized_pnl(engine: MatchingEngine) -> None:
    perp_trade(engine, "a", BUY, "2", "100")
    events = engine.on_mark(PERP, D(105), 9)
    (position,) = [e for e in of(events, PositionEvent) if e.account == "a"]
    assert (position.mark_price, position.unrealized_pnl) == (D(105), D(10))


def test_perp_stop_fires_on_the_mark_price(engine: MatchingEngine) -> None:
    perp_trade(engine, "a", BUY, "1", "100")
    stop, _ = place(engine, "a", SELL, "1", symbol=PERP, type=OrderType.STOP, trigger_price=D("95"),
                    reduce_only=True)
    place(engine, "house", BUY, "1", "94", symbol=PERP)
    engine.on_mark(PERP, D("94.9"), 9)
    assert state(engine, "a", stop).status is OrderStatus.FILLED
    assert engine.ledger.position("a", PERP).qty == 0


def test_reduce_only_is_refused_without_a_position_to_reduce(engine: MatchingEngine) -> None:
    with pytest.raises(OrderRefused) as refused:
        place(engine, "a", SELL, "1", "100", symbol=PERP, reduce_only=True)
    assert refused.value.reason == "reduce_only_rejected"
    perp_trade(engine, "a", BUY, "1", "100")
    with pytest.raises(OrderRefused):  # same side would increase
        place(engine, "a", BUY, "1", "100", symbol=PERP, reduce_only=True)
    with pytest.raises(OrderRefused):  # not on spot
        place(engine, "a", SELL, "1", "100", reduce_only=True)


def test_reduce_only_larger_than_the_position_is_clipped(engine: MatchingEngine) -> None:
    perp_trade(engine, "a", BUY, "1", "100")
    order, _ = place(engine, "a", SELL, "3", "101", symbol=PERP, reduce_only=True)
    assert order.qty == D(1)
    assert engine.balance_of("a", "USDT")[1] == engine.ledger.position("a", PERP).margin  # holds nothing


def test_resting_reduce_only_never_flips_a_position(engine: MatchingEngine) -> None:
    perp_trade(engine, "a", BUY, "1", "100")
    order, _ = place(engine, "a", SELL, "1", "110", symbol=PERP, reduce_only=True)
    perp_trade(engine, "a", SELL, "0.6", "100")  # position now 0.4
    place(engine, "b", BUY, "1", "110", symbol=PERP)
    assert engine.ledger.position("a", PERP).qty == 0
    closed = state(engine, "a", order)
    assert (closed.filled_qty, closed.status, closed.reason) == (D("0.4"), OrderStatus.CANCELED, "reduce_only")


def test_leverage_sets_margin(engine: MatchingEngine) -> None:
    perp_trade(engine, "a", BUY, "1", "100")
    engine.set_leverage("a", PERP, 5, 9)
    assert engine.ledger.position("a", PERP).margin == D(20)
    assert engine.balance_of("a", "USDT")[1] == D(20)


# --- queries -------------------------------------------------------------------------------------------


def test_fills_since_and_order_lookup(engine: MatchingEngine) -> None:
    place(engine, "a", SELL, "1", "100", now=10, client_order_id="s1")
    place(engine, "b", BUY, "0.5", type=MARKET, now=20)
    place(engine, "b", BUY, "0.5", type=MARKET, now=30)
    assert [f.ts for f in engine.fills_since("a", 15)] == [20, 30]
    assert engine.fills_since("a", 31) == []
    found = engine.order("a", client_order_id="s1")
    assert found is not None and found.status is OrderStatus.FILLED
    assert engine.order("b", client_order_id="s1") is None
    assert [o.ts for o in engine.orders_since("b", 25)] == [30]


def test_finished_orders_beyond_the_history_limit_are_forgotten(engine: MatchingEngine) -> None:
    engine.history_limit = 2
    for i in range(3):
        order, _ = place(engine, "a", BUY, "1", "100", client_order_id=f"h{i}")
        engine.cancel("a", 2, order_id=order.order_id)
    assert engine.order("a", client_order_id="h0") is None
    assert engine.order("a", client_order_id="h2") is not None
    place(engine, "a", BUY, "1", "100", client_order_id="h0")  # the forgotten client id is free again
