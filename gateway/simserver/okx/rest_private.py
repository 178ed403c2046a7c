"""The OKX dialect's private REST endpoints: account and trade (fact sheet §5).

Order writes go through `ops.run_items` (shared with the WebSocket); queries read the engine. Paging
is by time window only (``begin``/``end``) plus ``limit``; ``after``/``before`` by id are accepted and
applied as "older / newer than this id" on the numeric ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.simserver.okx.account import balance_data, config_data, leverage_rows, position_rows
from gateway.simserver.okx.algos import algo_item
from gateway.simserver.okx.ops import run_items
from gateway.simserver.okx.orders_render import OrderNotes, fill_row, order_item
from gateway.simserver.okx.params import ItemError
from gateway.simserver.okx.rest import Call, Route, _inst
from gateway.venues.sim.records import OrderEvent, OrderRefused

if TYPE_CHECKING:
    from gateway.simserver.okx.server import OkxDialect

__all__ = ["private_routes"]


def _items(c: Call) -> list[dict[str, Any]]:
    return c.body if isinstance(c.body, list) else [c.body] if isinstance(c.body, dict) else []


# --- account ------------------------------------------------------------------------------------------


async def _config(d: OkxDialect, c: Call) -> list[Any]:
    return [config_data(d.settings.uid, d.settings.acct_lv, d.settings.pos_mode)]


async def _balance(d: OkxDialect, c: Call) -> list[Any]:
    ccys = {x for x in c.q("ccy").split(",") if x} or None
    return [balance_data(d.engine, d.USER, d.by_symbol, d.now_ms(), ccys)]


async def _positions(d: OkxDialect, c: Call) -> list[Any]:
    inst_type = c.q("instType")
    if inst_type and inst_type != "SWAP":
        return []
    return position_rows(d.engine, d.USER, d.by_symbol, d.now_ms(), c.q("instId") or None,
                         long_short=d.desk.long_short)


async def _set_leverage(d: OkxDialect, c: Call) -> list[Any]:
    body = c.body if isinstance(c.body, dict) else {}
    inst = d.insts.get(str(body.get("instId", "")))
    if inst is None:
        raise ItemError("51001", "Instrument ID does not exist.")
    mgn_mode = str(body.get("mgnMode", ""))
    if mgn_mode not in ("cross", "isolated") or not inst.is_swap:
        raise ItemError("51000", "Parameter mgnMode error")
    lever = str(body.get("lever", ""))
    if not lever.isdigit():
        raise ItemError("51000", "Parameter lever error")
    if int(lever) > 125:
        raise ItemError("59102", "Leverage exceeds the maximum leverage.")
    now = d.now_ms()
    try:
        events = d.engine.set_leverage(d.USER, inst.symbol, int(lever), now)
    except OrderRefused:
        raise ItemError("51000", "Parameter lever error") from None
    d.after_engine_call(events, now)
    return [{"lever": lever, "mgnMode": mgn_mode, "instId": inst.inst_id, "posSide": "net"}]


async def _leverage_info(d: OkxDialect, c: Call) -> list[Any]:
    mgn_mode = c.q("mgnMode", required=True)
    rows = []
    for inst_id in c.q("instId", required=True).split(","):
        inst = d.insts.get(inst_id)
        if inst is None:
            raise ItemError("51001", "Instrument ID does not exist.")
        rows += leverage_rows(d.engine, d.USER, inst, mgn_mode)
    return rows


# --- trade writes -------------------------------------------------------------------------------------


def _writer(op: str, batch: bool, max_items: int = 20) -> Any:
    async def handler(d: OkxDialect, c: Call) -> Any:
        items = _items(c)
        if not batch and not isinstance(c.body, dict):  # single-order endpoints take one object, not an array
            raise ItemError("51000", "Parameter body error: this endpoint takes one JSON object, not an array")
        return run_items(d, op, items, max_items)

    return handler


# --- trade queries ------------------------------------------------------------------------------------


def _item(d: OkxDialect, order: OrderEvent) -> dict[str, Any]:
    inst = d.by_symbol[order.symbol]
    notes = d.notes.get(order.order_id) or OrderNotes()
    return order_item(order, inst, notes, str(d.engine.ledger.leverage_of(d.USER, order.symbol)))


def _visible(order: OrderEvent) -> bool:
    return not order.type.is_conditional or order.triggered


async def _get_order(d: OkxDialect, c: Call) -> list[Any]:
    inst = _inst(d, c)
    ord_id, cl_ord_id = c.q("ordId"), c.q("clOrdId")
    if not ord_id and not cl_ord_id:
        raise ItemError("50014", "Parameter ordId can not be empty.")
    order = d.engine.order(d.USER, ord_id or None, None if ord_id else cl_ord_id)
    if order is None or order.symbol != inst.symbol or not _visible(order):
        raise ItemError("51603", "Order does not exist")
    return [_item(d, order)]


def _filter(d: OkxDialect, c: Call, orders: list[OrderEvent]) -> list[OrderEvent]:
    inst_type, inst_id, ord_type = c.q("instType"), c.q("instId"), c.q("ordType")
    after, before = c.q("after"), c.q("before")
    found = []
    for order in orders:
        inst = d.by_symbol.get(order.symbol)
        if inst is None or not _visible(order) or (inst_type and inst.inst_type != inst_type) \
                or (inst_id and inst.inst_id != inst_id):
            continue
        if ord_type and _item(d, order)["ordType"] != ord_type:
            continue
        if (after.isdigit() and int(order.order_id) >= int(after)) or \
                (before.isdigit() and int(order.order_id) <= int(before)):
            continue
        found.append(order)
    found.sort(key=lambda o: int(o.order_id), reverse=True)
    return found[: c.limit()]


async def _pending(d: OkxDialect, c: Call) -> list[Any]:
    state = c.q("state")
    rows = [_item(d, o) for o in _filter(d, c, d.engine.open_orders(d.USER))]
    return [r for r in rows if not state or r["state"] == state]


async def _history(d: OkxDialect, c: Call) -> list[Any]:
    c.q("instType", required=True)
    state = c.q("state")
    begin = int(c.q("begin")) if c.q("begin").isdigit() else 0
    closed = [o for o in d.engine.orders_since(d.USER, begin) if o.status.is_terminal]
    rows = [_item(d, o) for o in _filter(d, c, closed)]
    return [r for r in rows if not state or r["state"] == state]


async def _fills(d: OkxDialect, c: Call) -> list[Any]:
    inst_type, inst_id, ord_id = c.q("instType"), c.q("instId"), c.q("ordId")
    begin = int(c.q("begin")) if c.q("begin").isdigit() else 0
    end = int(c.q("end")) if c.q("end").isdigit() else 1 << 62
    after, before = c.q("after"), c.q("before")
    rows = []
    for fill in d.engine.fills_since(d.USER, begin):
        inst = d.by_symbol.get(fill.symbol)
        bill_id = f"{fill.trade_id}{1 if fill.order_id else 0}"
        if inst is None or fill.ts > end or (inst_type and inst.inst_type != inst_type) \
                or (inst_id and inst.inst_id != inst_id) or (ord_id and fill.order_id != ord_id):
            continue
        if (after.isdigit() and int(bill_id) >= int(after)) or (before.isdigit() and int(bill_id) <= int(before)):
            continue
        rows.append(fill_row(fill, inst, bill_id))
    rows.reverse()
    return rows[: c.limit()]


async def _get_algo(d: OkxDialect, c: Call) -> list[Any]:
    algo = d.algos.find(c.q("algoId") or None, c.q("algoClOrdId") or None)
    if algo is None:
        raise ItemError("51603", "Order does not exist")
    return [_algo_row(d, algo)]


def _algo_row(d: OkxDialect, algo: Any) -> dict[str, Any]:
    inst = d.insts[algo.inst_id]
    return algo_item(algo, inst, str(d.engine.ledger.leverage_of(d.USER, inst.symbol)))


def _algo_list(pending: bool) -> Any:
    async def handler(d: OkxDialect, c: Call) -> list[Any]:
        types = {t for t in c.q("ordType", required=True).split(",") if t}
        state, algo_id, inst_id = c.q("state"), c.q("algoId"), c.q("instId")
        if not pending and not state and not algo_id:
            raise ItemError("50014", "Parameter state can not be empty.")
        algos = d.algos.pending() if pending else d.algos.history()
        rows = [_algo_row(d, a) for a in algos if a.ord_type in types and (not state or a.state == state)
                and (not algo_id or a.algo_id == algo_id) and (not inst_id or a.inst_id == inst_id)]
        rows.sort(key=lambda r: int(r["algoId"]), reverse=True)
        return rows[: c.limit()]

    return handler


def private_routes() -> dict[tuple[str, str], Route]:
    p = "/api/v5/"
    routes = {
        ("GET", p + "account/config"): Route(True, _config),
        ("GET", p + "account/balance"): Route(True, _balance),
        ("GET", p + "account/positions"): Route(True, _positions),
        ("POST", p + "account/set-leverage"): Route(True, _set_leverage),
        ("GET", p + "account/leverage-info"): Route(True, _leverage_info),
        ("POST", p + "trade/order"): Route(True, _writer("place", False), items=True),
        ("POST", p + "trade/batch-orders"): Route(True, _writer("place", True), items=True),
        ("POST", p + "trade/cancel-order"): Route(True, _writer("cancel", False), items=True),
        ("POST", p + "trade/cancel-batch-orders"): Route(True, _writer("cancel", True), items=True),
        ("POST", p + "trade/amend-order"): Route(True, _writer("amend", False), items=True),
        ("POST", p + "trade/amend-batch-orders"): Route(True, _writer("amend", True), items=True),
        ("POST", p + "trade/order-algo"): Route(True, _writer("place_algo", False), items=True),
        ("POST", p + "trade/cancel-algos"): Route(True, _writer("cancel_algo", True, 10), items=True),
        ("POST", p + "trade/amend-algos"): Route(True, _writer("amend_algo", False), items=True),
        ("GET", p + "trade/order"): Route(True, _get_order),
        ("GET", p + "trade/orders-pending"): Route(True, _pending),
        ("GET", p + "trade/orders-history"): Route(True, _history),
        ("GET", p + "trade/orders-history-archive"): Route(True, _history),
        ("GET", p + "trade/fills"): Route(True, _fills),
        ("GET", p + "trade/fills-history"): Route(True, _fills),
        ("GET", p + "trade/order-algo"): Route(True, _get_algo),
        ("GET", p + "trade/orders-algo-pending"): Route(True, _algo_list(True)),
        ("GET", p + "trade/orders-algo-history"): Route(True, _algo_list(False)),
    }
    return routes

