"""Rows the order service persists, and the journal contract it persists them through.

The store (`persistence.store.OrderStore`) speaks plain tuples in a fixed column order; this module
converts the order package's records to and from them, so neither package imports the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from gateway.core.enums import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from gateway.orders.model import FillRecord, Order

__all__ = [
    "FILL_ROW_COLUMNS",
    "ORDER_ROW_COLUMNS",
    "OrderJournal",
    "fill_from_row",
    "fill_to_row",
    "order_from_row",
    "order_to_row",
]

ORDER_ROW_COLUMNS = (
    "account", "order_key", "client_order_id", "venue", "symbol", "order_id", "strategy", "side", "type", "tif",
    "price", "trigger_price", "qty", "filled_qty", "avg_price", "notional", "status", "is_open", "reduce_only",
    "external", "created_ts", "updated_ts", "sent_at", "reason", "venue_filled_qty", "venue_avg_price",
)
FILL_ROW_COLUMNS = (
    "venue", "trade_id", "account", "symbol", "order_id", "client_order_id", "strategy", "side", "price", "qty",
    "fee", "fee_asset", "liquidity", "ts", "recv_ts",
)

Row = tuple[Any, ...]


class OrderJournal(Protocol):
    """What the order service needs from its persistence (implemented by `persistence.store.OrderStore`)."""

    @property
    def appends_synchronously(self) -> bool: ...  # `append` returns None: the batch is durable on return
    @property
    def failed(self) -> BaseException | None: ...  # the journal can take no more writes
    @property
    def lag(self) -> int: ...  # batches durable and not yet queryable (0 without an append log)
    async def flushed(self) -> None: ...  # return once every batch so far is queryable
    def append(
        self, orders: Sequence[Row], fills: Sequence[Row], journal: Iterable[tuple[int, str, str, str | None, dict]],
        positions: Sequence[tuple[str | None, str, str, str]] = (),
    ) -> Awaitable[None] | None: ...
    async def load_orders(self, closed_since_ms: int) -> list[Row]: ...
    async def load_trade_ids(self, since_ms: int) -> list[Row]: ...
    async def get_order(
        self, account: str, client_order_id: str | None = None, order_id: str | None = None
    ) -> Row | None: ...
    async def history(
        self, account: str, symbol: str | None = None, since: int | None = None, limit: int = 500
    ) -> list[Row]: ...
    async def fills(
        self, account: str, symbol: str | None = None, order_id: str | None = None,
        client_order_id: str | None = None, since: int | None = None, limit: int = 500,
    ) -> list[Row]: ...
    async def last_event_ts(self, venue: str) -> int | None: ...
    async def risk_positions(self) -> list[tuple[str | None, str, str, str]] | None: ...
    async def filled_positions(self) -> list[Row]: ...
    async def build_risk_positions(self, positions: Sequence[tuple[str | None, str, str, str]]) -> None: ...


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def order_to_row(o: Order) -> Row:
    """Return the stored row of `o` (columns as in `ORDER_ROW_COLUMNS`)."""
    return (
        o.account, o.key, o.client_order_id, o.venue, o.symbol, o.order_id, o.strategy, o.side.value,
        o.type.value, o.tif.value, _text(o.price), _text(o.trigger_price), str(o.qty), str(o.filled_qty),
        _text(o.avg_price), str(o.notional), o.status.value, 0 if o.status.is_terminal else 1,
        int(o.reduce_only), int(o.external), o.created_ts, o.updated_ts, o.sent_at, o.reason,
        str(o.venue_filled_qty), _text(o.venue_avg_price),
    )


def order_from_row(r: Sequence[Any]) -> Order:
    """Rebuild an order from its stored row (resolution bookkeeping starts afresh)."""
    return Order(
        account=r[0], client_order_id=r[2], venue=r[3], symbol=r[4], order_id=r[5], strategy=r[6],
        side=Side(r[7]), type=OrderType(r[8]), tif=TimeInForce(r[9]), price=_dec(r[10]),
        trigger_price=_dec(r[11]), qty=Decimal(r[12]), filled_qty=Decimal(r[13]), avg_price=_dec(r[14]),
        notional=Decimal(r[15]), status=OrderStatus(r[16]), reduce_only=bool(r[18]), external=bool(r[19]),
        created_ts=r[20], updated_ts=r[21], sent_at=r[22], reason=r[23], venue_filled_qty=Decimal(r[24]),
        venue_avg_price=_dec(r[25]),
    )


def fill_to_row(f: FillRecord) -> Row:
    """Return the stored row of `f` (columns as in `FILL_ROW_COLUMNS`)."""
    return (
        f.venue, f.trade_id, f.account, f.symbol, f.order_id, f.client_order_id, f.strategy, f.side.value,
        str(f.price), str(f.qty), str(f.fee), f.fee_asset, f.liquidity.value, f.ts, f.recv_ts,
    )


def fill_from_row(r: Sequence[Any]) -> FillRecord:
    return FillRecord(
        venue=r[0], trade_id=r[1], account=r[2], symbol=r[3], order_id=r[4], client_order_id=r[5],
        strategy=r[6], side=Side(r[7]), price=Decimal(r[8]), qty=Decimal(r[9]), fee=Decimal(r[10]),
        fee_asset=r[11], liquidity=Liquidity(r[12]), ts=r[13], recv_ts=r[14],
    )
