"""The OKX dialect's order operations on the sim engine, shared by REST and the private WebSocket. Pure.

Each operation takes one request item (a dict of OKX fields) and the server time, and returns
``(answer item, engine events)``; a failed item raises `params.ItemError` having changed nothing, which
the caller turns into ``sCode`` / ``sMsg`` (fact sheet §2: the per-item codes are authoritative).

Account model: ``tdMode`` ``cash`` on SPOT, ``cross``/``isolated`` on SWAP (a Futures-mode account,
``acctLv`` 2). In net mode ``posSide`` is absent or ``net`` (``long``/``short`` is 51000). In long/short
mode (`OrderDesk.long_short`) a SWAP order needs ``posSide`` (50014 without): buy+long and sell+short
open, sell+long and buy+short close (reduce-only). The engine holds one net position per instrument, so
opening one side while the other is held (a hedged pair) is refused with 51000 — a documented limit.
SPOT market buys size in quote currency unless ``tgtCcy`` is ``base_ccy`` (§5); the quote amount is
turned into a base quantity by walking the book at the moment of the order (rounded down to the lot).
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Any

from gateway.core.enums import OrderType, Side, TimeInForce
from gateway.core.instruments import quantize
from gateway.simserver.okx.algos import Algo, AlgoBook
from gateway.simserver.okx.instruments import OkxInstrument
from gateway.simserver.okx.orders_render import OrderNotes
from gateway.simserver.okx.params import ItemError, decimal_of, flag, id_param, refused, required, text
from gateway.venues.sim.matching import MatchingEngine
from gateway.venues.sim.records import EngineEvent, OrderEvent, OrderRefused

__all__ = ["OrderDesk"]

_ORD_TYPES = {"market": (OrderType.MARKET, TimeInForce.GTC), "limit": (OrderType.LIMIT, TimeInForce.GTC),
              "post_only": (OrderType.LIMIT, TimeInForce.POST_ONLY), "ioc": (OrderType.LIMIT, TimeInForce.IOC),
              "fok": (OrderType.LIMIT, TimeInForce.FOK), "optimal_limit_ioc": (OrderType.MARKET, TimeInForce.IOC)}
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
Answer = tuple[dict[str, Any], list[EngineEvent]]


class OrderDesk:
    """Order, amend, cancel and algo operations of the dialect's one funded user."""

    def __init__(self, engine: MatchingEngine, user: str, insts: dict[str, OkxInstrument],
                 notes: dict[str, OrderNotes], algos: AlgoBook, *, long_short: bool = False):
        self.engine, self.user, self.insts, self.notes, self.algos = engine, user, insts, notes, algos
        self.long_short = long_short
        self.by_symbol = {i.symbol: i for i in insts.values()}

    # --- helpers ------------------------------------------------------------------------------------

    def inst(self, p: dict[str, Any]) -> OkxInstrument:
        found = self.insts.get(required(p, "instId"))
        if found is None:
            raise ItemError("51001", "Instrument ID does not exist.")
        return found

    def _modes(self, p: dict[str, Any], inst: OkxInstrument) -> tuple[str, str]:
        td_mode = required(p, "tdMode")
        if td_mode not in (("cross", "isolated") if inst.is_swap else ("cash",)):
            raise ItemError("51000", "Parameter tdMode error")
        pos_side = text(p, "posSide")
        if self.long_short and inst.is_swap:
            if not pos_side:
                raise ItemError("50014", "Parameter posSide can not be empty.")
            if pos_side not in ("long", "short"):
                raise ItemError("51000", "Parameter posSide error")
        elif pos_side not in ("", "net") or (pos_side and not inst.is_swap):
            raise ItemError("51000", "Parameter posSide error")
        return td_mode, pos_side

    def _closes(self, inst: OkxInstrument, side: Side, pos_side: str) -> bool:
        """Long/short mode: True if `side` on `pos_side` closes; refuse opening against a held other side."""
        if pos_side not in ("long", "short"):
            return False
        closes = (side is Side.SELL) == (pos_side == "long")
        held = self.engine.ledger.position(self.user, inst.symbol).qty
        if not closes and held and (held > 0) != (pos_side == "long"):
            raise ItemError("51000", "Parameter posSide error: the dialect holds one net position per "
                                     "instrument (no hedged long and short)")
        return closes

    def _size(self, inst: OkxInstrument, sz: Decimal, name: str = "sz") -> Decimal:
        if sz <= 0:
            raise ItemError("51000", f"Parameter {name} error")
        if sz % inst.lot_sz:
            raise ItemError("51121", "Order quantity must be a multiple of the lot size.")
        if sz < inst.min_sz:
            raise ItemError("51020", "Your order should meet or exceed the minimum order amount.")
        return inst.to_qty(sz)

    def _quote_to_base(self, inst: OkxInstrument, amount: Decimal) -> Decimal:
        _, asks, _ = self.engine.depth(inst.symbol, 1_000)
        qty = Decimal(0)
        for price, size in asks:
            take = min(size, amount / price)
            qty += take
            amount -= take * price
            if amount <= 0:
                break
        return quantize(qty, inst.instrument.step_size, ROUND_FLOOR)

    def _call(self, inst: OkxInstrument, action: str, call: Any) -> list[EngineEvent]:
        try:
            return call()
        except OrderRefused as exc:
            raise refused(exc, inst.instrument.settle or inst.instrument.quote, action) from None

    def _find(self, p: dict[str, Any], inst: OkxInstrument, missing: ItemError) -> OrderEvent:
        ord_id, cl_ord_id = text(p, "ordId"), text(p, "clOrdId")
        if not ord_id and not cl_ord_id:
            raise ItemError("50014", "Parameter ordId can not be empty.")
        order = self.engine.order(self.user, ord_id or None, None if ord_id else cl_ord_id)
        if order is None or order.symbol != inst.symbol or (order.type.is_conditional and not order.triggered):
            raise missing
        return order

    @staticmethod
    def ok(ord_id: str, cl_ord_id: str, tag: str, now: int) -> dict[str, Any]:
        return {"ordId": ord_id, "clOrdId": cl_ord_id, "tag": tag, "ts": str(now), "sCode": "0",
                "sMsg": "Order placed", "subCode": ""}

    # --- orders -------------------------------------------------------------------------------------

    def place(self, p: dict[str, Any], now: int) -> Answer:
        """``POST /api/v5/trade/order`` / WS ``order``: one order."""
        inst = self.inst(p)
        td_mode, pos_side = self._modes(p, inst)
        side = _SIDES.get(required(p, "side"))
        if side is None:
            raise ItemError("51000", "Parameter side error")
        kind = _ORD_TYPES.get(required(p, "ordType"))
        if kind is None or (p.get("ordType") == "optimal_limit_ioc" and not inst.is_swap):
            raise ItemError("51000", "Parameter ordType error")
        otype, tif = kind
        sz = decimal_of(p, "sz")
        assert sz is not None
        cl_ord_id, tag = id_param(p, "clOrdId"), id_param(p, "tag", tag=True)
        reduce_only = flag(p, "reduceOnly") or self._closes(inst, side, pos_side)
        if reduce_only and not inst.is_swap:
            raise ItemError("51000", "Parameter reduceOnly error")
        price = decimal_of(p, "px") if otype.has_limit_price else None
        tgt_ccy = text(p, "tgtCcy")
        if tgt_ccy not in ("", "base_ccy", "quote_ccy"):
            raise ItemError("51000", "Parameter tgtCcy error")
        if otype is OrderType.MARKET and not inst.is_swap and side is Side.BUY and tgt_ccy != "base_ccy":
            qty = self._quote_to_base(inst, sz)
            if qty < inst.instrument.min_qty:
                raise ItemError("51020", "Your order should meet or exceed the minimum order amount.")
            tgt_ccy = tgt_ccy or "quote_ccy"
        else:
            qty = self._size(inst, sz)
        attach = p.get("attachAlgoOrds") or []
        if not isinstance(attach, list) or not all(isinstance(a, dict) for a in attach):
            raise ItemError("51000", "Parameter attachAlgoOrds error")
        events = self._call(inst, "place", lambda: self.engine.place(
            self.user, inst.symbol, side, otype, qty, now, price=price, tif=tif, reduce_only=reduce_only,
            client_order_id=cl_ord_id or None))
        ord_id = self.engine.last_order_id
        self.notes[ord_id] = OrderNotes(td_mode=td_mode, tag=tag, pos_side=pos_side, tgt_ccy=tgt_ccy, attach=attach)
        if attach:
            self.algos.attachments[ord_id] = (inst.inst_id, attach)
        return self.ok(ord_id, cl_ord_id, tag, now), events

    def cancel(self, p: dict[str, Any], now: int) -> Answer:
        """``POST /api/v5/trade/cancel-order`` / WS ``cancel-order``."""
        inst = self.inst(p)
        gone = refused(OrderRefused("order_not_found"), "", "cancel")
        order = self._find(p, inst, gone)
        if not order.status.is_terminal:
            notes = self.notes.setdefault(order.order_id, OrderNotes())
            notes.cancel_source = "1"  # canceled by the user
        events = self._call(inst, "cancel", lambda: self.engine.cancel(self.user, now, order_id=order.order_id))
        answer = self.ok(order.order_id, order.client_order_id or "", "", now)
        answer["sMsg"] = ""
        return answer, events

    def amend(self, p: dict[str, Any], now: int) -> Answer:
        """``POST /api/v5/trade/amend-order`` / WS ``amend-order`` (``newSz`` includes the filled part)."""
        inst = self.inst(p)
        order = self._find(p, inst, refused(OrderRefused("order_not_found"), "", "amend"))
        new_sz, new_px = decimal_of(p, "newSz", need=False), decimal_of(p, "newPx", need=False)
        if new_sz is None and new_px is None:
            raise ItemError("50014", "Parameter newSz or newPx can not be empty.")
        req_id = id_param(p, "reqId")
        qty = self._size(inst, new_sz, "newSz") if new_sz is not None else None
        try:
            events = self._call(inst, "amend", lambda: self.engine.amend(
                self.user, now, order_id=order.order_id, qty=qty, price=new_px))
        except ItemError:
            if flag(p, "cxlOnFail") and not order.status.is_terminal:
                self.notes.setdefault(order.order_id, OrderNotes()).cancel_source = "1"
                return self.cancel({"instId": inst.inst_id, "ordId": order.order_id}, now)
            raise
        notes = self.notes.setdefault(order.order_id, OrderNotes())
        notes.req_id, notes.amend_result = req_id, "0"
        return {"ordId": order.order_id, "clOrdId": order.client_order_id or "", "reqId": req_id,
                "ts": str(now), "sCode": "0", "sMsg": "", "subCode": ""}, events

    # --- algo orders --------------------------------------------------------------------------------

    def place_algo(self, p: dict[str, Any], now: int, attached_to: OrderEvent | None = None) -> Answer:
        """``POST /api/v5/trade/order-algo``: conditional, oco or trigger (§5)."""
        inst = self.inst(p)
        td_mode, pos_side = self._modes(p, inst)
        side = _SIDES.get(required(p, "side"))
        if side is None:
            raise ItemError("51000", "Parameter side error")
        ord_type = required(p, "ordType")
        if ord_type not in ("conditional", "oco", "trigger"):
            raise ItemError("51000", "Parameter ordType error")
        algo_cl_ord_id, tag = id_param(p, "algoClOrdId"), id_param(p, "tag", tag=True)
        if algo_cl_ord_id and self.algos.is_live_client_id(algo_cl_ord_id):
            raise ItemError("51016", "Duplicated algoClOrdId")
        close_fraction = text(p, "closeFraction")
        reduce_only = flag(p, "reduceOnly") or bool(close_fraction) or self._closes(inst, side, pos_side)
        if reduce_only and not inst.is_swap:
            raise ItemError("51000", "Parameter reduceOnly error")
        if close_fraction:
            if close_fraction != "1" or not inst.is_swap:
                raise ItemError("51000", "Parameter closeFraction error")
            held = self.engine.ledger.position(self.user, inst.symbol).qty
            qty = abs(held)
            if not qty:
                raise ItemError("51169", "Order failed because you don't have any positions in this direction "
                                         "for this contract to reduce or close.")
        else:
            size = decimal_of(p, "sz")
            assert size is not None
            qty = self._size(inst, size)
        legs = self._legs(p, ord_type, side, inst)
        algo = Algo(self.algos.new_id(), algo_cl_ord_id, inst.inst_id, ord_type, str(side), td_mode,
                    inst.to_sz(qty), reduce_only, tag, {k: text(p, k) for k in _PRICE_FIELDS if text(p, k)},
                    now, now, pos_side, close_fraction)
        events: list[EngineEvent] = []
        placed: list[str] = []
        try:
            for kind, otype, trigger, price in legs:
                events += self.engine.place(self.user, inst.symbol, side, otype, qty, now, price=price,
                                            trigger_price=trigger, reduce_only=reduce_only)
                placed.append(self.engine.last_order_id)
                algo.legs[placed[-1]] = kind
                self.notes[placed[-1]] = OrderNotes(td_mode=td_mode, tag=tag, pos_side=pos_side,
                                                    algo_id=algo.algo_id, algo_cl_ord_id=algo_cl_ord_id)
        except OrderRefused as exc:
            for leg in placed:  # an OCO whose second leg is refused is not placed at all
                if self.engine.is_open(leg):
                    events += self.engine.cancel(self.user, now, order_id=leg)
            if not placed:
                raise refused(exc, inst.instrument.settle or inst.instrument.quote) from None
            algo.state = "order_failed"
        self.algos.add(algo)
        return {"algoId": algo.algo_id, "clOrdId": "", "algoClOrdId": algo_cl_ord_id, "tag": tag,
                "sCode": "0", "sMsg": ""}, events

    def _legs(self, p: dict[str, Any], ord_type: str, side: Side, inst: OkxInstrument
              ) -> list[tuple[str, OrderType, Decimal, Decimal | None]]:
        legs = []
        if ord_type == "trigger":
            trigger = decimal_of(p, "triggerPx")
            assert trigger is not None
            price = self._ord_px(p, "orderPx")
            last = self.engine.last_price(inst.symbol)
            rising = last is None or trigger >= last
            stop = rising if side is Side.BUY else not rising
            legs.append(("trigger", _leg_type(stop, price), trigger, price))
            return legs
        tp, sl = decimal_of(p, "tpTriggerPx", need=False), decimal_of(p, "slTriggerPx", need=False)
        if tp is None and sl is None or (ord_type == "oco" and (tp is None or sl is None)):
            raise ItemError("50014", "Parameter tpTriggerPx or slTriggerPx can not be empty.")
        if ord_type == "conditional" and sl is not None:
            tp = None  # §5: a conditional with both keeps the SL logic only
        if tp is not None:
            price = self._ord_px(p, "tpOrdPx")
            legs.append(("tp", _leg_type(False, price), tp, price))
        if sl is not None:
            price = self._ord_px(p, "slOrdPx")
            legs.append(("sl", _leg_type(True, price), sl, price))
        return legs

    @staticmethod
    def _ord_px(p: dict[str, Any], name: str) -> Decimal | None:
        value = decimal_of(p, name)
        assert value is not None
        return None if value == -1 else value

    def cancel_algo(self, p: dict[str, Any], now: int) -> Answer:
        """One item of ``POST /api/v5/trade/cancel-algos``."""
        self.inst(p)
        algo = self.algos.find(required(p, "algoId"), None)
        if algo is None or algo.inst_id != p.get("instId") or algo.state != "live":
            raise ItemError("51000", "Parameter algoId error")
        events: list[EngineEvent] = []
        for leg in algo.legs:  # the algo book marks it canceled when it sees the legs end (`AlgoBook.on_order`)
            if self.engine.is_open(leg):
                events += self.engine.cancel(self.user, now, order_id=leg)
        if not events:
            algo.state, algo.u_time = "canceled", now
        return {"algoId": algo.algo_id, "algoClOrdId": algo.algo_cl_ord_id, "sCode": "0", "sMsg": ""}, events

    def amend_algo(self, p: dict[str, Any], now: int) -> Answer:
        """``POST /api/v5/trade/amend-algos``: a live conditional / OCO algo's size, triggers and order prices.

        The engine cannot move a trigger, so the legs are replaced: the new legs are placed first (a refusal
        leaves the algo as it was), then the old ones are unlinked from the algo and canceled.
        """
        inst = self.inst(p)
        algo = self.algos.find(text(p, "algoId") or None, text(p, "algoClOrdId") or None)
        if algo is None or algo.inst_id != inst.inst_id or algo.state != "live" or algo.ord_type == "trigger":
            raise ItemError("51000", "Parameter algoId error")
        changes = {k[3].lower() + k[4:]: text(p, k) for k in _AMENDABLE if text(p, k)}
        new_sz = decimal_of(p, "newSz", need=False)
        if not changes and new_sz is None:
            raise ItemError("50014", "Parameter newSz can not be empty.")
        for name, value in changes.items():
            if (name.endswith("TriggerPx") or value != "-1") and (decimal_of(changes, name) or 0) <= 0:
                raise ItemError("51000", f"Parameter new{name[0].upper()}{name[1:]} error")
        qty = self._size(inst, new_sz, "newSz") if new_sz is not None else inst.to_qty(algo.sz)
        prices = {**algo.prices, **changes}
        if {k[:2] for k in changes} - set(algo.legs.values()):  # e.g. a TP price on a stop-only algo
            raise ItemError("51000", "Parameter algoId error")
        side = _SIDES[algo.side]
        events: list[EngineEvent] = []
        placed: dict[str, str] = {}
        try:
            for kind in algo.legs.values():
                price = None if prices.get(f"{kind}OrdPx", "-1") == "-1" else Decimal(prices[f"{kind}OrdPx"])
                events += self.engine.place(self.user, inst.symbol, side, _leg_type(kind == "sl", price), qty, now,
                                            price=price, trigger_price=Decimal(prices[f"{kind}TriggerPx"]),
                                            reduce_only=algo.reduce_only)
                placed[self.engine.last_order_id] = kind
        except OrderRefused as exc:
            for leg in placed:
                events += self.engine.cancel(self.user, now, order_id=leg)
            raise refused(exc, inst.instrument.settle or inst.instrument.quote) from None
        old = list(algo.legs)
        self.algos.relink(algo, placed)
        for leg, kind in placed.items():
            self.notes[leg] = OrderNotes(td_mode=algo.td_mode, tag=algo.tag, pos_side=algo.pos_side,
                                         algo_id=algo.algo_id, algo_cl_ord_id=algo.algo_cl_ord_id)
        for leg in old:
            if self.engine.is_open(leg):
                events += self.engine.cancel(self.user, now, order_id=leg)
        algo.prices, algo.sz, algo.u_time = prices, inst.to_sz(qty), now
        return {"algoId": algo.algo_id, "algoClOrdId": algo.algo_cl_ord_id, "reqId": id_param(p, "reqId"),
                "sCode": "0", "sMsg": ""}, events

    def attach(self, inst_id: str, specs: list[dict[str, Any]], parent: OrderEvent, now: int) -> list[EngineEvent]:
        """Place the TP/SL attached to `parent` (now filled) as algos of its filled size (§5)."""
        inst = self.insts[inst_id]
        notes = self.notes.get(parent.order_id, OrderNotes())
        events: list[EngineEvent] = []
        for spec in specs:
            has_tp, has_sl = bool(text(spec, "tpTriggerPx")), bool(text(spec, "slTriggerPx"))
            item = {**{k: v for k, v in spec.items() if k in _PRICE_FIELDS}, "instId": inst_id,
                    "tdMode": notes.td_mode, "side": str(parent.side.opposite), "ordType": "oco" if has_tp and has_sl
                    else "conditional", "sz": format(inst.to_sz(parent.filled_qty), "f"),
                    "algoClOrdId": text(spec, "attachAlgoClOrdId"), "reduceOnly": inst.is_swap}
            if notes.pos_side in ("long", "short"):
                item["posSide"] = notes.pos_side  # the position the parent opened, which they close
            if has_tp and not text(spec, "tpOrdPx"):
                item["tpOrdPx"] = "-1"
            if has_sl and not text(spec, "slOrdPx"):
                item["slOrdPx"] = "-1"
            try:
                events += self.place_algo(item, now, attached_to=parent)[1]
            except ItemError:
                continue  # a TP/SL that cannot be placed any more is dropped, as an expired attachment
        return events


_AMENDABLE = ("newTpTriggerPx", "newTpOrdPx", "newSlTriggerPx", "newSlOrdPx")
_PRICE_FIELDS = ("tpTriggerPx", "tpOrdPx", "slTriggerPx", "slOrdPx", "triggerPx", "orderPx", "tpTriggerPxType",
                 "slTriggerPxType", "triggerPxType")


def _leg_type(stop: bool, price: Decimal | None) -> OrderType:
    if stop:
        return OrderType.STOP if price is None else OrderType.STOP_LIMIT
    return OrderType.TAKE_PROFIT if price is None else OrderType.TAKE_PROFIT_LIMIT
