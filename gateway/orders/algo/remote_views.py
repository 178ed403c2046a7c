"""The API's views of what a remote algo venue reports, and the request comparisons of idempotency. Pure.

Split from `remote` so the backend stays about the calls; the local engine's public shapes are the model
(`model.Algo.to_public`), so a strategy reads a QE parent like a local one.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gateway.core.algo_ports import ChildFill, ChildOrder, ParentOrder
from gateway.core.enums import MarketType
from gateway.core.instruments import Instrument
from gateway.orders.algo.model import AlgoState
from gateway.orders.algo.validation import AlgoRequest

__all__ = ["STATE_OF", "child_public", "fill_public", "public_parent", "request_record", "same_parent",
           "same_record"]

# QE master-order status -> the gateway's algo state (fact sheet §9; internal states map to the nearest).
STATE_OF: dict[str, AlgoState] = {
    "NEW": AlgoState.PENDING, "WAITING": AlgoState.PENDING, "PROCESSING": AlgoState.RUNNING,
    "CANCEL": AlgoState.RUNNING, "CANCEL_REJECT": AlgoState.RUNNING, "CLEANING": AlgoState.RUNNING,
    "PAUSED": AlgoState.PAUSED, "CANCELLED": AlgoState.CANCELED, "COMPLETED": AlgoState.COMPLETED,
    "COMPLETED_WITHTAIL": AlgoState.COMPLETED, "REJECTED": AlgoState.FAILED, "EXPIRED": AlgoState.EXPIRED,
}


def public_parent(account: str, p: ParentOrder, instruments: Mapping[str, Instrument]) -> dict[str, Any]:
    """The API's algo shape of a parent QE reports (the local engine's fields, plus ``qe_status``)."""
    symbol = p.symbol
    perp = (p.market_type or "").upper() == "PERP"
    for instrument in instruments.values():
        if instrument.native == p.symbol and (instrument.type is MarketType.PERP) == perp:
            symbol = instrument.symbol
    state = STATE_OF.get(p.status, AlgoState.RUNNING)
    target = p.qty if p.qty is not None and p.qty > 0 else p.notional
    done = p.filled_notional if p.qty in (None, Decimal(0)) else p.filled_qty
    progress = min(Decimal(1), done / target) if target else Decimal(0)
    end = None if p.start_ms is None or p.duration_s is None else p.start_ms + p.duration_s * 1000
    return {"algo_id": p.parent_id, "client_order_id": p.client_order_id, "account": account, "venue": account,
            "symbol": symbol, "side": p.side, "algorithm": p.algorithm, "qty": p.qty, "notional": p.notional,
            "state": state, "qe_status": p.status, "filled_qty": p.filled_qty, "filled_notional": p.filled_notional,
            "avg_price": p.avg_price, "progress": progress.quantize(Decimal("0.0001")), "start_ts": p.start_ms,
            "end_ts": end, "reason": p.reason, "created_ts": p.created_ms, "updated_ts": p.updated_ms,
            "backend": "qe"}


def same_parent(parent: ParentOrder, request: AlgoRequest, instrument: Instrument) -> bool:
    def eq(a: Decimal | None, b: Decimal | None) -> bool:
        return (a is None or a == 0) and (b is None or b == 0) or (a is not None and b is not None and a == b)

    return (parent.symbol == instrument.native and parent.side == request.side.value
            and parent.algorithm.lower() == request.algorithm.value.lower()
            and eq(parent.qty, request.qty) and eq(parent.notional, request.notional))


def request_record(request: AlgoRequest, instrument: Instrument) -> dict[str, Any]:
    """What the journal keeps of a request: enough to tell the same request from another."""
    return {"symbol": instrument.symbol, "native": instrument.native, "side": request.side.value,
            "algorithm": request.algorithm.value, "qty": None if request.qty is None else str(request.qty),
            "notional": None if request.notional is None else str(request.notional), **request.to_record()}


def same_record(stored: dict[str, Any], wanted: dict[str, Any]) -> bool:
    def dec(value: Any) -> Decimal | None:
        return None if value in (None, "") else Decimal(str(value))

    return all(stored.get(k) == wanted.get(k) for k in ("symbol", "side", "algorithm")) and all(
        dec(stored.get(k)) == dec(wanted.get(k)) for k in ("qty", "notional"))


def child_public(c: ChildOrder) -> dict[str, Any]:
    return {"order_id": c.order_id, "symbol": c.symbol, "side": c.side, "status": c.status, "qty": c.qty,
            "price": c.price, "filled_qty": c.filled_qty, "filled_notional": c.filled_notional,
            "avg_price": c.avg_price, "type": c.order_type, "reason": c.reason, "ts": c.updated_ms}


def fill_public(f: ChildFill) -> dict[str, Any]:
    return {"trade_id": f.fill_id, "order_id": f.order_id, "symbol": f.symbol, "side": f.side, "qty": f.qty,
            "price": f.price, "notional": f.notional, "cum_qty": f.cum_qty, "ts": f.ts}
