"""Property tests of the sim matching engine over random sequences of orders, cancels and amends."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.enums import Liquidity, OrderType, Side, TimeInForce
from gateway.venues.sim.matching import FillEvent, MatchingEngine, OrderRefused

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
ACCOUNTS = ("a", "b", "c", "house")
INITIAL = {"USDT": D(1_000), "BTC": D(5)}
TOLERANCE = D("1e-6")  # perp entry prices are averaged (divisions); realized PnL is rounded to 1e-8

ORDER_TYPES = [
    (OrderType.LIMIT, TimeInForce.GTC), (OrderType.LIMIT, TimeInForce.IOC), (OrderType.LIMIT, TimeInForce.FOK),
    (OrderType.LIMIT, TimeInForce.POST_ONLY), (OrderType.MARKET, TimeInForce.GTC),
    (OrderType.STOP, TimeInForce.GTC), (OrderType.STOP_LIMIT, TimeInForce.GTC),
    (OrderType.TAKE_PROFIT, TimeInForce.GTC), (OrderType.TAKE_PROFIT_LIMIT, TimeInForce.IOC),
]


def price_of(symbol: str, k: int) -> D:
    return D(9_990 + 5 * k) / 100 if symbol == SPOT else D(996 + k) / 10


places = st.tuples(
    st.just("place"), st.sampled_from(ACCOUNTS), st.sampled_from([SPOT, PERP]), st.sampled_from(list(Side)),
    st.sampled_from(ORDER_TYPES), st.integers(1, 20), st.integers(0, 8), st.integers(0, 8), st.booleans(),
)
cancels = st.tuples(st.just("cancel"), st.integers(0, 60))
amends = st.tuples(st.just("amend"), st.integers(0, 60), st.one_of(st.none(), st.integers(1, 25)),
                   st.one_of(st.none(), st.integers(0, 8)))
marks = st.tuples(st.just("mark"), st.integers(0, 8))
fundings = st.tuples(st.just("funding"), st.sampled_from([D("-0.001"), D("0.0005")]))
leverages = st.tuples(st.just("leverage"), st.sampled_from(ACCOUNTS[:3]), st.sampled_from([1, 3, 10, 20]))
operations = st.lists(
    st.one_of(places, places, places, cancels, amends, marks, fundings, leverages), min_size=5, max_size=50
)


class Run:
    """Drive an engine with operations and check the invariants after each."""

    def __init__(self, engine: MatchingEngine):
        self.engine = engine
        self.orders: list[tuple[str, str]] = []  # (account, order id)
        self.fills: dict[str, list[FillEvent]] = defaultdict(list)  # order id -> its fills
        self.trades: dict[str, list[FillEvent]] = defaultdict(list)  # trade id -> both sides

    def apply(self, op: tuple, now: int) -> None:
        queues = self.queues()
        try:
            events = self.dispatch(op, now)
        except OrderRefused:
            return
        for event in events:
            if type(event) is FillEvent:
                self.fills[event.order_id].append(event)
                self.trades[event.trade_id].append(event)
                if event.liquidity is Liquidity.MAKER:
                    self.check_priority(queues, event)

    def dispatch(self, op: tuple, now: int) -> list:
        engine = self.engine
        kind = op[0]
        if kind == "place":
            _, account, symbol, side, (type, tif), qty, k, trigger_k, reduce_only = op
            price = price_of(symbol, k) if type.has_limit_price else None
            trigger = price_of(symbol, trigger_k) if type.is_conditional else None
            events = engine.place(account, symbol, side, type, D(qty) / 10, now, price=price, trigger_price=trigger,
                                  tif=tif, reduce_only=reduce_only and symbol == PERP)
            self.orders.append((account, engine.last_order_id))
            return events
        if kind in ("cancel", "amend") and not self.orders:
            raise OrderRefused("nothing")
        if kind == "cancel":
            account, order_id = self.orders[op[1] % len(self.orders)]
            return engine.cancel(account, now, order_id=order_id)
        if kind == "amend":
            account, order_id = self.orders[op[1] % len(self.orders)]
            order = engine.order(account, order_id=order_id)
            if order is None:  # a finished house order is forgotten
                raise OrderRefused("order_not_found")
            price = price_of(order.symbol, op[3]) if op[3] is not None else None
            return engine.amend(account, now, order_id=order_id, qty=D(op[2]) / 10 if op[2] else None, price=price)
        if kind == "mark":
            return engine.on_mark(PERP, price_of(PERP, op[1]), now)
        if kind == "funding":
            return engine.apply_funding(PERP, op[1], now)
        return engine.set_leverage(op[1], PERP, op[2], now)

    def queues(self) -> dict[tuple[str, bool, D], list[str]]:
        found = {}
        for symbol, book in self.engine.books.items():
            for side in (book.bids, book.asks):
                for level in side.iter_levels():
                    found[(symbol, side.is_bid, level.price)] = [o.order_id for o in level.live()]
        return found

    def check_priority(self, queues: dict, fill: FillEvent) -> None:
        # Every order queued ahead of a filled maker at its price must have left the book first.
        queue = queues.get((fill.symbol, fill.side is Side.BUY, fill.price), [])
        if fill.order_id not in queue:
            return
        for ahead in queue[: queue.index(fill.order_id)]:
            assert not self.engine._orders[ahead].resting, f"order {ahead} was ahead of {fill.order_id}"

    def check(self) -> None:
        engine = self.engine
        ledger = engine.ledger
        for symbol in engine.books:
            bid, _, ask, _ = engine.bbo(symbol)
            assert bid is None or ask is None or bid < ask, f"crossed book {symbol}: {bid} >= {ask}"
        # conservation: every asset over all accounts, with fees, realized PnL and funding
        positions = [p for acc in ledger.accounts.values() for p in acc.positions.values()]
        totals = {asset: sum((ledger.balance(n, asset).free + ledger.balance(n, asset).locked
                              for n in ledger.accounts), D(0)) for asset in INITIAL}
        assert totals["BTC"] == INITIAL["BTC"] * 3
        realized = sum((p.realized_pnl + p.funding for p in positions), D(0))
        assert totals["USDT"] + ledger.fees.get("USDT", D(0)) - realized == INITIAL["USDT"] * 3
        assert sum((p.qty for p in positions), D(0)) == 0
        cost_basis = sum((p.qty * p.entry_price for p in positions), D(0))
        assert abs(sum((p.realized_pnl for p in positions), D(0)) + cost_basis) < TOLERANCE
        # holds: what each account has locked is what its open orders and positions hold
        for name, account in ledger.accounts.items():
            if account.house:
                continue
            held: dict[str, D] = defaultdict(D)
            for order_id in engine._open[name]:
                order = engine._orders[order_id]
                if order.locked:
                    held[order.lock_asset] += order.locked
            held["USDT"] += sum((p.margin for p in account.positions.values()), D(0))
            for asset, balance in account.balances.items():
                assert balance.locked == held[asset], (name, asset)
                assert balance.locked >= 0
            assert account.balances.get("BTC") is None or account.balances["BTC"].free >= 0
        # quantities: an order's filled qty is the sum of its fills and never exceeds its qty
        for account, order_id in self.orders:
            order = engine.order(account, order_id=order_id)
            if order is None:  # a finished house order
                continue
            assert order.filled_qty == sum((f.qty for f in self.fills[order_id]), D(0))
            assert 0 <= order.filled_qty <= order.qty
        for trade_id, sides in self.trades.items():
            assert len(sides) == 2, trade_id
            assert sides[0].qty == sides[1].qty and sides[0].price == sides[1].price
            assert sides[0].side is not sides[1].side


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_invariants_hold_after_every_operation(engine_factory, ops: list[tuple]) -> None:
    engine = engine_factory(accounts=ACCOUNTS[:3], usdt=1_000, btc=5)
    engine.open_account("house", house=True)
    run = Run(engine)
    for now, op in enumerate(ops, start=1):
        run.apply(op, now)
        run.check()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=6), taken=st.integers(1, 30))
def test_resting_orders_at_one_price_fill_in_arrival_order(engine_factory, sizes: list[int], taken: int) -> None:
    engine = engine_factory(accounts=ACCOUNTS[:3], usdt=1_000, btc=5)
    makers = []
    for i, size in enumerate(sizes):
        engine.place(ACCOUNTS[i % 2], SPOT, Side.SELL, OrderType.LIMIT, D(size) / 10, i, price=D(100))
        makers.append((ACCOUNTS[i % 2], engine.last_order_id))
    engine.place("c", SPOT, Side.BUY, OrderType.MARKET, D(taken) / 10, 99)
    filled = [engine.order(a, order_id=o).filled_qty for a, o in makers]  # type: ignore[union-attr]
    left = D(taken) / 10
    for size, got in zip(sizes, filled, strict=True):
        expected = min(D(size) / 10, left)
        assert got == expected
        left -= expected
