"""OKX algo orders over the engine's conditional orders: conditional, oco, trigger, attached TP/SL. Pure.

Fact sheet §5 "Algo orders". Each algo is one or two engine conditional orders ("legs"): a TP leg is a
take-profit order, an SL leg a stop, a ``trigger`` order whichever of the two fires in the direction
of its trigger from the last price; ``-1`` as order price makes the leg a market order once it fires,
else a limit. The engine fires legs on its last price (perps: also its mark price), whatever
``*TriggerPxType`` says — a documented simplification. A ``conditional`` with both TP and SL keeps only
the SL leg (§5: "only the SL logic is applied").

`AlgoBook.on_order` follows the legs' engine events: the first leg that fires makes the algo
``effective`` (its order is the fired leg, reported with the algo's ids) and returns the sibling legs
for the caller to cancel (OCO); legs that end unfired make it ``canceled``; a leg that fired but could
not be funded makes it ``order_failed``. Attached TP/SL (``attachAlgoOrds`` on an order) wait in
`attachments` until their parent order is filled (or ends partly filled): the caller then places them
as algos of the filled size (§5: "created only when the parent fills").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.core.enums import OrderStatus
from gateway.simserver.okx.instruments import OkxInstrument
from gateway.simserver.okx.render import s
from gateway.venues.sim.records import OrderEvent

__all__ = ["Algo", "AlgoBook", "algo_item"]

_FIRST_ALGO_ID = 700_000_000_000


@dataclass(slots=True)
class Algo:
    """One algo order and the engine legs that carry it."""

    algo_id: str
    algo_cl_ord_id: str
    inst_id: str
    ord_type: str  # conditional | oco | trigger
    side: str
    td_mode: str
    sz: Decimal  # wire size
    reduce_only: bool
    tag: str
    prices: dict[str, str]  # tpTriggerPx, tpOrdPx, slTriggerPx, slOrdPx, triggerPx, orderPx (+ *PxType)
    c_time: int
    u_time: int
    pos_side: str = ""
    close_fraction: str = ""
    legs: dict[str, str] = field(default_factory=dict)  # engine order id -> tp | sl | trigger
    state: str = "live"
    ord_id: str = ""  # the fired leg (effective)
    actual_side: str = ""
    actual_sz: Decimal | None = None
    actual_px: Decimal | None = None
    trigger_time: int = 0
    fail_code: str = ""


class AlgoBook:
    """Every algo order of the user, indexed by algo id, client algo id and leg order id."""

    def __init__(self) -> None:
        self.algos: dict[str, Algo] = {}
        self._by_client: dict[str, str] = {}
        self._by_leg: dict[str, str] = {}
        self.attachments: dict[str, tuple[str, list[dict[str, Any]]]] = {}  # parent order id -> (instId, specs)
        self._next = _FIRST_ALGO_ID

    def new_id(self) -> str:
        self._next += 1
        return str(self._next)

    def add(self, algo: Algo) -> None:
        self.algos[algo.algo_id] = algo
        if algo.algo_cl_ord_id:
            self._by_client[algo.algo_cl_ord_id] = algo.algo_id
        for leg in algo.legs:
            self._by_leg[leg] = algo.algo_id

    def relink(self, algo: Algo, legs: dict[str, str]) -> None:
        """Make `legs` (engine order id -> tp | sl) the algo's legs; the old ones no longer report to it."""
        for leg in algo.legs:
            self._by_leg.pop(leg, None)
        algo.legs = dict(legs)
        for leg in legs:
            self._by_leg[leg] = algo.algo_id

    def find(self, algo_id: str | None, algo_cl_ord_id: str | None) -> Algo | None:
        if algo_id:
            return self.algos.get(algo_id)
        found = self._by_client.get(algo_cl_ord_id or "")
        return self.algos.get(found) if found else None

    def is_live_client_id(self, algo_cl_ord_id: str) -> bool:
        found = self.find(None, algo_cl_ord_id)
        return found is not None and found.state == "live"

    def of_leg(self, order_id: str) -> Algo | None:
        found = self._by_leg.get(order_id)
        return self.algos.get(found) if found else None

    def on_order(self, order: OrderEvent) -> tuple[Algo | None, list[str]]:
        """Fold one engine order event in; return (the algo it changed or None, sibling legs to cancel)."""
        algo = self.of_leg(order.order_id)
        if algo is None or algo.state != "live":
            return None, []
        if order.triggered:
            algo.u_time = algo.trigger_time = order.ts
            algo.actual_side = algo.legs[order.order_id]
            algo.actual_px = order.price
            algo.actual_sz = order.qty
            algo.ord_id = order.order_id
            if order.status is OrderStatus.EXPIRED and order.filled_qty == 0 and order.reason not in ("ioc", "no_liquidity"):
                algo.state, algo.fail_code = "order_failed", "51008"
            else:
                algo.state = "effective"
            return algo, [leg for leg in algo.legs if leg != order.order_id]
        if order.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED):
            algo.state, algo.u_time = "canceled", order.ts
            return algo, [leg for leg in algo.legs if leg != order.order_id]
        return None, []

    def on_parent(self, order: OrderEvent) -> tuple[str, list[dict[str, Any]], OrderEvent] | None:
        """Return (instId, attached specs, the parent) once `order` has filled or ended partly filled."""
        if order.order_id not in self.attachments or not order.status.is_terminal:
            return None
        inst_id, specs = self.attachments.pop(order.order_id)
        if order.filled_qty == 0:
            return None
        return inst_id, specs, order

    def pending(self) -> list[Algo]:
        return [a for a in self.algos.values() if a.state == "live"]

    def history(self) -> list[Algo]:
        return [a for a in self.algos.values() if a.state != "live"]


def algo_item(algo: Algo, inst: OkxInstrument, lever: str) -> dict[str, Any]:
    """A ``orders-algo-pending`` / ``-history`` row and ``orders-algo`` push item."""
    p = algo.prices
    return {
        "instType": inst.inst_type, "instId": inst.inst_id, "ccy": "", "ordId": algo.ord_id,
        "ordIdList": [algo.ord_id] if algo.ord_id else [], "algoId": algo.algo_id,
        "clOrdId": "", "algoClOrdId": algo.algo_cl_ord_id, "sz": s(algo.sz), "closeFraction": algo.close_fraction,
        "ordType": algo.ord_type, "side": algo.side, "posSide": algo.pos_side or ("net" if inst.is_swap else ""),
        "tdMode": algo.td_mode, "tgtCcy": "", "state": algo.state, "lever": lever if inst.is_swap else "",
        "tpTriggerPx": p.get("tpTriggerPx", ""), "tpTriggerPxType": p.get("tpTriggerPxType", ""),
        "tpOrdPx": p.get("tpOrdPx", ""), "slTriggerPx": p.get("slTriggerPx", ""),
        "slTriggerPxType": p.get("slTriggerPxType", ""), "slOrdPx": p.get("slOrdPx", ""),
        "triggerPx": p.get("triggerPx", ""), "triggerPxType": p.get("triggerPxType", ""),
        "ordPx": p.get("orderPx", ""), "actualSz": s(inst.to_sz(algo.actual_sz)) if algo.actual_sz else "",
        "actualPx": s(algo.actual_px) if algo.actual_px is not None else "", "actualSide": algo.actual_side,
        "triggerTime": str(algo.trigger_time) if algo.trigger_time else "", "tag": algo.tag,
        "reduceOnly": "true" if algo.reduce_only else "false", "failCode": algo.fail_code,
        "cTime": str(algo.c_time), "uTime": str(algo.u_time),
    }
