"""Pure converters from the engine's events to the normalized `gateway.core.events` user events."""

from __future__ import annotations

from gateway.core.events import Balance, Fill, OrderUpdate, Position
from gateway.venues.sim.records import BalanceEvent, FillEvent, OrderEvent, PositionEvent

__all__ = ["to_balance", "to_fill", "to_order_update", "to_position"]


def to_order_update(e: OrderEvent, venue: str, order_id: str | None, recv_ts: int) -> OrderUpdate:
    """Convert an order snapshot; `order_id` is passed separately so the shell may withhold it."""
    return OrderUpdate(
        venue=venue, symbol=e.symbol, order_id=order_id, client_order_id=e.client_order_id, side=e.side,
        type=e.type, tif=e.tif, price=e.price, trigger_price=e.trigger_price, qty=e.qty, filled_qty=e.filled_qty,
        avg_price=e.avg_price, status=e.status, reduce_only=e.reduce_only, ts=e.ts, recv_ts=recv_ts,
        reason=e.reason,
    )


def to_fill(e: FillEvent, venue: str, order_id: str | None, recv_ts: int) -> Fill:
    """Convert one side of a match; `order_id` as in `to_order_update`."""
    return Fill(
        venue=venue, symbol=e.symbol, order_id=order_id, client_order_id=e.client_order_id, trade_id=e.trade_id,
        side=e.side, price=e.price, qty=e.qty, fee=e.fee, fee_asset=e.fee_asset, liquidity=e.liquidity, ts=e.ts,
        recv_ts=recv_ts,
    )


def to_balance(e: BalanceEvent, venue: str) -> Balance:
    return Balance(venue=venue, asset=e.asset, free=e.free, locked=e.locked, ts=e.ts)


def to_position(e: PositionEvent, venue: str) -> Position:
    return Position(
        venue=venue, symbol=e.symbol, qty=e.qty, entry_price=e.entry_price, mark_price=e.mark_price,
        unrealized_pnl=e.unrealized_pnl, leverage=e.leverage, margin_type=e.margin_type, ts=e.ts,
    )
