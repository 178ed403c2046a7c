"""QE's V2 records of the dialect's state (fact sheet §6.3): lowerCamelCase, decimals as strings. Pure."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.core.enums import MarketType, OrderStatus
from gateway.core.instruments import Instrument
from gateway.orders.algo.model import QE_STATUS, Algo, AlgoState
from gateway.venues.sim.records import OrderEvent

__all__ = ["child", "master", "qe_symbol", "status_of", "trading_pair"]

_CHILD_STATUS = {
    OrderStatus.NEW: "PLACED", OrderStatus.PARTIALLY_FILLED: "PLACED", OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELED: "CANCELLED", OrderStatus.EXPIRED: "CANCELLED", OrderStatus.REJECTED: "REJECTED",
}


def qe_symbol(instrument: Instrument) -> str:
    """QE names pairs BASEQUOTE on both markets (the market type tells them apart)."""
    return f"{instrument.base}{instrument.quote}"


def status_of(algo: Algo) -> str:
    if algo.state is AlgoState.COMPLETED and algo.reason and "tail" in algo.reason:
        return "COMPLETED_WITHTAIL"
    return QE_STATUS[algo.state]


def _text(value: Decimal | None) -> str:
    return "0" if value is None or value == 0 else format(value.normalize(), "f")


def master(algo: Algo, instrument: Instrument, api_key_id: str, exchange: str) -> dict[str, Any]:
    """MasterOrderV2Info of `algo`."""
    p = algo.params
    perp = instrument.type is MarketType.PERP
    return {
        "masterOrderId": algo.algo_id, "clientOrderId": algo.client_order_id or "", "apiKeyId": api_key_id,
        "exchange": exchange, "marketType": "PERP" if perp else "SPOT", "category": "perp" if perp else "spot",
        "symbol": qe_symbol(instrument), "baseCurrency": instrument.base, "quoteCurrency": instrument.quote,
        "side": algo.side.value, "algorithm": algo.algorithm.value,
        "totalQuantity": _text(algo.qty), "orderNotional": _text(algo.notional),
        "startTimeMs": algo.start_ts, "executionDurationSeconds": (algo.end_ts - algo.start_ts) // 1000,
        "worstPrice": p.get("limit_price", "-1"), "mustComplete": p.get("must_complete", True),
        "makerRateLimit": p.get("maker_rate_limit", "-1"), "povLimit": p.get("pov_limit"),
        "povMinLimit": p.get("pov_min_limit") or "0", "upTolerance": p.get("up_tolerance", "-1"),
        "lowTolerance": p.get("low_tolerance", "-1"), "strictUpBound": p.get("strict_up_bound", False),
        "tailOrderProtection": p.get("tail_order_protection", True), "enableMake": p.get("enable_make", True),
        "isTargetPosition": p.get("is_target_position", False), "reduceOnly": p.get("reduce_only", False),
        "isMargin": p.get("is_margin", False), "marginType": p.get("margin_type") or "", "notes": p.get("notes") or "",
        "status": status_of(algo), "rejectReason": algo.reason or "",
        "cumFilledQty": _text(algo.filled_qty), "cumFilledNotional": _text(algo.filled_notional),
        "avgFilledPrice": _text(algo.avg_price), "makerRate": _text(algo.maker_rate),
        "completedQuantity": _text(algo.filled_qty), "commission": {},
        "createdAt": algo.created_ts, "updatedAt": algo.updated_ts, "finishedMs": algo.ended_ts or 0,
    }


def child(algo: Algo, instrument: Instrument, event: OrderEvent, exchange: str) -> dict[str, Any]:
    """OrderFillV2Info of one child order (cumulative filled quantity)."""
    filled = event.filled_qty
    avg = event.avg_price
    return {
        "id": event.order_id, "orderId": event.order_id, "masterOrderId": algo.algo_id,
        "orderCreatedTime": event.created_ts, "exchange": exchange.upper(),
        "category": "perp" if instrument.type is MarketType.PERP else "spot", "symbol": qe_symbol(instrument),
        "side": event.side.value, "filledQuantity": _text(filled),
        "filledNotional": _text(avg * filled if avg is not None else None), "averagePrice": _text(avg),
        "price": _text(event.price), "status": _CHILD_STATUS.get(event.status, "PLACED"),
        "rejectReason": event.reason or "", "baseCurrency": instrument.base, "quoteCurrency": instrument.quote,
        "orderType": "LIMIT", "quantity": _text(event.qty), "createdAt": event.created_ts, "updatedAt": event.ts,
    }


def trading_pair(instrument: Instrument, exchange: str, pair_id: int) -> dict[str, Any]:
    perp = instrument.type is MarketType.PERP
    return {"id": pair_id, "symbol": qe_symbol(instrument), "baseAsset": instrument.base,
            "quoteAsset": instrument.quote, "exchange": exchange, "marketType": "PERP" if perp else "SPOT",
            "contractType": "PERPETUAL" if perp else "", "deliveryDate": "", "status": "TRADING",
            "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z"}
