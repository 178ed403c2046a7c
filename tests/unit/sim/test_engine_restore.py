"""Export, change tracking and restore of the sim engine (`snapshot.EngineSnapshots`). Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.enums import MarginType, OrderStatus, OrderType, Side
from gateway.venues.sim.matching import FillEvent, MatchingEngine, OrderRefused
from gateway.venues.sim.records import SimOrder
from gateway.venues.sim.snapshot import EngineState, StateChanges
from tests.unit.sim.conftest import MAKER_FEE, TAKER_FEE, instruments
from tests.unit.sim.test_matching_properties import Run, operations

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET

EngineFactory = Callable[..., MatchingEngine]


def blank() -> MatchingEngine:
    """An engine with the instruments and the house account only, as a restart builds it."""
    engine = MatchingEngine(instruments(), MAKER_FEE, TAKER_FEE, default_leverage=10, house_events=True)
    engine.open_account("house", house=True)
    return engine


def restored(engine: MatchingEngine) -> MatchingEngine:
    copy = blank()
    copy.restore(engine.export_state())
    return copy


def queue(engine: MatchingEngine, symbol: str, side: Side) -> list[tuple[D, list[str]]]:
    """Non-house order ids per level, best first, in queue order."""
    book = engine.books[symbol].side(side)
    return [(level.price, [o.order_id for o in level.live() if not o.house]) for level in book.iter_levels()]


def place(engine: MatchingEngine, account: str, side: Side, qty: str, price: str | None = None,
          type: OrderType = LIMIT, symbol: str = SPOT, now: int = 1, **kw: object) -> str:
    engine.place(account, symbol, side, type, D(qty), now, price=D(price) if price else None, **kw)  # type: ignore[arg-type]
    return engine.last_order_id


# --- export -> restore ---------------------------------------------------------------------------------


def test_restore_yields_the_same_accounts_orders_and_fills(engine: MatchingEngine) -> None:
    engine.set_leverage("a", PERP, 5, 1)
    engine.set_margin_type("b", PERP, MarginType.ISOLATED, 1)
    place(engine, "a", SELL, "1", "100", client_order_id="a-rest")
    place(engine, "b", BUY, "0.4", type=MARKET, client_order_id="b-take", now=2)
    place(engine, "a", SELL, "2", "1000", symbol=PERP, now=3)
    place(engine, "b", BUY, "1", type=MARKET, symbol=PERP, now=4)
    place(engine, "c", SELL, "0.5", type=OrderType.STOP, trigger_price=D("90"), client_order_id="c-stop", now=5)
    cancelled = place(engine, "c", BUY, "1", "50", now=6)
    engine.cancel("c", 7, order_id=cancelled)
    engine.on_mark(PERP, D("1001"), 8)

    copy = restored(engine)

    assert copy.export_state() == engine.export_state()
    for account in ("a", "b", "c"):
        assert copy.balances(account, 9) == engine.balances(account, 9)
        assert copy.positions(account, 9) == engine.positions(account, 9)
        assert copy.open_orders(account) == engine.open_orders(account)
        assert copy.orders_since(account, 0) == engine.orders_since(account, 0)
        assert copy.fills_since(account, 0) == engine.fills_since(account, 0)
    assert copy.order("a", client_order_id="a-rest") == engine.order("a", client_order_id="a-rest")
    assert copy.order("c", client_order_id="c-stop").status is OrderStatus.NEW  # type: ignore[union-attr]
    assert copy.depth(SPOT, 5) == engine.depth(SPOT, 5)
    assert copy.positions("a", 9)[0].leverage == 5
    assert copy.ledger.margin_type_of("b", PERP) is MarginType.ISOLATED
    with pytest.raises(OrderRefused) as refused:  # a restored client order id is still in use
        copy.place("a", SPOT, SELL, LIMIT, D(1), 9, price=D(200), client_order_id="a-rest")
    assert refused.value.reason == "duplicate_client_order_id"


def test_restored_orders_keep_their_time_priority(engine: MatchingEngine) -> None:
    first = place(engine, "a", SELL, "1", "100")
    second = place(engine, "b", SELL, "1", "100")
    third = place(engine, "a", SELL, "1", "100")
    engine.amend("a", 2, order_id=first, qty=D("0.5"))  # a decrease keeps its place
    engine.amend("b", 3, order_id=second, qty=D(2))  # an increase goes to the back

    copy = restored(engine)

    assert queue(copy, SPOT, SELL) == [(D(100), [first, third, second])] == queue(engine, SPOT, SELL)
    copy.place("c", SPOT, BUY, MARKET, D("1.6"), 4)
    assert [copy.order(a, order_id=i).filled_qty for a, i in (("a", first), ("a", third), ("b", second))] == [  # type: ignore[union-attr]
        D("0.5"), D(1), D("0.1")
    ]


def test_restored_orders_rank_ahead_of_orders_queued_after_the_restore() -> None:
    engine = blank()
    engine.open_account("a", {"USDT": D(1_000), "BTC": D(5)})
    engine.open_account("b", {"USDT": D(1_000), "BTC": D(5)})
    old = place(engine, "a", SELL, "1", "100")
    state = engine.export_state()

    copy = blank()
    copy.restore_counters(state.counters)
    house = place(copy, "house", SELL, "1", "100")  # the market re-quotes before the accounts return
    copy.restore_account(state.accounts[0])

    live = [o.order_id for o in copy.books[SPOT].asks.best().live()]  # type: ignore[union-attr]
    assert live == [old, house]


def test_house_quotes_crossing_a_restored_order_are_withdrawn() -> None:
    engine = blank()
    engine.open_account("a", {"USDT": D(1_000), "BTC": D(5)})
    bid = place(engine, "a", BUY, "1", "100")
    state = engine.export_state()

    copy = blank()
    copy.restore_counters(state.counters)
    crossing = place(copy, "house", SELL, "1", "99")
    above = place(copy, "house", SELL, "1", "101")
    seq = copy.book_seq(SPOT)
    copy.restore_account(state.accounts[0])

    assert not copy.is_open(crossing) and copy.is_open(above)
    assert copy.bbo(SPOT) == (D(100), D(1), D(101), D(1))
    assert copy.book_seq(SPOT) > seq
    assert copy.order("a", order_id=bid).status is OrderStatus.NEW  # type: ignore[union-attr]


def test_id_counters_continue_after_a_restore(engine: MatchingEngine) -> None:
    place(engine, "a", SELL, "1", "100")
    place(engine, "b", BUY, "0.5", type=MARKET)
    last_order, trade = int(engine.last_order_id), engine.fills_since("b", 0)[-1].trade_id
    seq = engine.book_seq(SPOT)

    copy = restored(engine)
    events = copy.place("c", SPOT, BUY, MARKET, D("0.5"), 2)

    assert int(copy.last_order_id) == last_order + 1
    assert [int(e.trade_id) for e in events if type(e) is FillEvent] == [int(trade) + 1] * 2
    assert copy.book_seq(SPOT) == seq + 1
    assert copy.last_price(SPOT) == D(100)


def test_a_restored_stop_still_triggers(engine: MatchingEngine) -> None:
    place(engine, "a", SELL, "1", "100")
    place(engine, "b", BUY, "0.1", type=MARKET)
    stop = place(engine, "c", BUY, "0.2", type=OrderType.STOP, trigger_price=D(101))
    place(engine, "a", SELL, "1", "101")

    copy = restored(engine)
    copy.place("b", SPOT, BUY, MARKET, D(1), 2)  # trades 100 and 101: crosses the trigger

    order = copy.order("c", order_id=stop)
    assert order is not None and order.status is OrderStatus.FILLED and order.triggered


# --- change tracking -------------------------------------------------------------------------------------


class Mirror:
    """Applies `StateChanges` to a copy of an exported state the way the store does."""

    def __init__(self, state: EngineState):
        self.orders = {o.order_id: replace(o) for a in state.accounts for o in a.orders}
        self.fills = {a.name: list(a.fills) for a in state.accounts}
        self.balances = {(a.name, k): (b.free, b.locked) for a in state.accounts for k, b in a.balances.items()}
        self.positions = {(a.name, s): self._position(p) for a in state.accounts for s, p in a.positions.items()}
        self.counters = state.counters

    @staticmethod
    def _position(saved: object) -> tuple:
        p = saved.position  # type: ignore[attr-defined]
        return (p.qty, p.entry_price, p.mark_price, p.margin, p.realized_pnl, p.funding,
                saved.leverage, saved.margin_type)  # type: ignore[attr-defined]

    def apply(self, changes: StateChanges) -> None:
        self.orders.update((o.order_id, replace(o)) for o in changes.orders)
        self.balances.update((k, (b.free, b.locked)) for k, b in changes.balances.items())
        self.positions.update((k, self._position(p)) for k, p in changes.positions.items())
        for fill in changes.fills:
            self.fills.setdefault(fill.account, []).append(fill)
        for order_id in changes.forgotten:
            del self.orders[order_id]
        for account, first in changes.fills_kept.items():
            fills = self.fills[account]
            del fills[: fills.index(first)]
        self.counters = changes.counters

    def assert_matches(self, state: EngineState) -> None:
        expected = Mirror(state)
        assert self.orders == expected.orders
        assert self.fills == expected.fills
        assert self.counters == expected.counters
        # an export also shows the empty balances and positions that lookups create; changes skip them
        zero = (D(0), D(0))
        assert {k: v for k, v in self.balances.items() if v != zero} == {
            k: v for k, v in expected.balances.items() if v != zero}
        empty = (D(0),) * 6 + (None, None)
        assert {k: v for k, v in self.positions.items() if v[:2] + v[3:] != empty[:2] + empty[3:]} == {
            k: v for k, v in expected.positions.items() if v[:2] + v[3:] != empty[:2] + empty[3:]}


def test_take_changes_reports_what_each_call_changed(engine: MatchingEngine) -> None:
    engine.track_changes()
    resting = place(engine, "a", SELL, "1", "100")
    changes = engine.take_changes()
    assert [o.order_id for o in changes.orders] == [resting]
    assert list(changes.balances) == [("a", "BTC")] and not changes.fills
    place(engine, "b", BUY, "0.5", type=MARKET)
    changes = engine.take_changes()
    assert sorted(o.order_id for o in changes.orders) == sorted([resting, engine.last_order_id])
    assert [(f.account, f.qty) for f in changes.fills] == [("a", D("0.5")), ("b", D("0.5"))]
    assert changes.counters.next_trade == 1 and changes.counters.last_prices == {SPOT: D(100)}
    assert engine.take_changes().orders == []


def test_house_orders_are_never_tracked(engine: MatchingEngine) -> None:
    engine.open_account("house", house=True)
    engine.track_changes()
    place(engine, "house", SELL, "1", "100")
    changes = engine.take_changes()
    assert (changes.orders, changes.balances, changes.fills) == ([], {}, [])


def test_forgotten_orders_and_trimmed_fills_are_reported(engine: MatchingEngine) -> None:
    engine.history_limit = 2
    engine.track_changes()
    mirror = Mirror(engine.export_state())
    for now in range(1, 7):
        place(engine, "a", SELL, "0.1", "100", now=now)
        place(engine, "b", BUY, "0.1", type=MARKET, now=now)
        changes = engine.take_changes()
        mirror.apply(changes)
        mirror.assert_matches(engine.export_state())
    assert len(mirror.fills["a"]) <= 4 and len([o for o in mirror.orders.values() if o.account == "a"]) == 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, limit=st.sampled_from([1, 3, 100_000]))
def test_changes_applied_to_the_export_give_the_export(engine_factory: EngineFactory, ops: list[tuple],
                                                       limit: int) -> None:
    engine = engine_factory(accounts=("a", "b", "c"), usdt=1_000, btc=5)
    engine.open_account("house", house=True)
    engine.history_limit = limit
    engine.track_changes()
    mirror = Mirror(engine.export_state())
    run = Run(engine)
    for now, op in enumerate(ops, start=1):
        run.apply(op, now)
        mirror.apply(engine.take_changes())
        mirror.assert_matches(engine.export_state())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=operations, after=operations)
def test_a_restored_engine_behaves_like_the_original(engine_factory: EngineFactory, before: list[tuple],
                                                     after: list[tuple]) -> None:
    # Without house orders (the only thing a restore leaves out) the copy must answer every later
    # call exactly as the original does.
    engine = engine_factory(accounts=("a", "b", "c"), usdt=1_000, btc=5)
    original = Run(engine)
    for now, op in enumerate(before, start=1):
        original.apply(op, now)
    copy_engine = MatchingEngine(instruments(), MAKER_FEE, TAKER_FEE, default_leverage=10, house_events=True)
    copy_engine.restore(engine.export_state())
    copy = Run(copy_engine)
    copy.orders = list(original.orders)
    for symbol in engine.books:
        for side in (BUY, SELL):
            assert queue(copy_engine, symbol, side) == queue(engine, symbol, side)
    for now, op in enumerate(after, start=len(before) + 1):
        assert outcome(original, op, now) == outcome(copy, op, now)
    assert copy_engine.export_state() == engine.export_state()


def outcome(run: Run, op: tuple, now: int) -> object:
    try:
        return run.dispatch(op, now)
    except OrderRefused as exc:
        return exc.reason


def test_restore_takes_a_saved_order_as_is() -> None:
    engine = blank()
    engine.open_account("a", {"USDT": D(1_000)})
    place(engine, "a", BUY, "1", "100")
    state = engine.export_state()
    saved: SimOrder = state.accounts[0].orders[0]
    copy = blank()
    copy.restore(state)
    assert copy._orders[saved.order_id] is saved and saved.resting
