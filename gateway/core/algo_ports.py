"""`AlgoVenue`: what the algo path needs of a venue that executes parent orders itself (Quantum Execute).

A QE account is not an order venue: QE has no plain orders and no market data; it takes a *parent*
(master order: TWAP / VWAP / POV over a horizon) and slices it into child orders on the user's exchange
account. So the algo path (`gateway.orders.algo.remote.RemoteAlgoBackend`) talks to this small protocol
instead of `VenueAdapter.place_order`, and the venue pushes `AlgoEvent`s (parent progress, child orders,
fills) into an `AlgoSink`.

Pure: only the standard library is imported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "AlgoEvent",
    "AlgoSink",
    "AlgoVenue",
    "ChildFill",
    "ChildOrder",
    "ParentOrder",
    "ParentPage",
    "ParentSpec",
]


@dataclass(frozen=True, slots=True)
class ParentSpec:
    """A validated parent order as it goes to the venue (decimals exact; the venue's own names are the
    adapter's business). Exactly one of `qty` and `notional`."""

    api_key_id: str  # the bound exchange account that executes it
    exchange: str  # Binance, OKX, ... (QE's spelling)
    market_type: str  # SPOT | PERP
    symbol: str  # the venue's native symbol, e.g. BTCUSDT
    side: str  # buy | sell
    algorithm: str  # TWAP | VWAP | POV | BoostTWAP | BoostVWAP
    duration_s: int
    qty: Decimal | None = None
    notional: Decimal | None = None
    start_ms: int | None = None
    client_order_id: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # tolerances, flags, worst price, margin ...


@dataclass(frozen=True, slots=True)
class ParentOrder:
    """A parent as the venue reports it (cumulative; fold the newest)."""

    parent_id: str
    client_order_id: str | None
    status: str  # the venue's status, e.g. PROCESSING, COMPLETED
    symbol: str
    side: str
    algorithm: str
    market_type: str | None
    exchange: str | None
    api_key_id: str | None
    qty: Decimal | None
    notional: Decimal | None
    filled_qty: Decimal
    filled_notional: Decimal
    avg_price: Decimal | None
    duration_s: int | None
    start_ms: int | None
    reason: str | None
    created_ms: int | None
    updated_ms: int | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class ChildOrder:
    """A child order of a parent as the venue reports it (cumulative filled quantity)."""

    order_id: str
    parent_id: str
    symbol: str
    side: str
    status: str
    qty: Decimal | None
    price: Decimal | None
    filled_qty: Decimal
    filled_notional: Decimal
    avg_price: Decimal | None
    order_type: str | None
    reason: str | None
    updated_ms: int | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class ChildFill:
    """What a child filled since the last report: `qty` at `price`, derived from cumulative reports, so a
    replayed report never yields it twice. `fill_id` is `<order_id>:<cumulative qty>`."""

    fill_id: str
    parent_id: str
    order_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    notional: Decimal
    cum_qty: Decimal
    ts: int | None


AlgoEvent = ParentOrder | ChildOrder | ChildFill


@dataclass(frozen=True, slots=True)
class ParentPage:
    items: Sequence[ParentOrder]
    total: int
    page: int
    page_size: int


class AlgoSink(Protocol):
    """Where an algo venue pushes what it learns. Must not block; called on the event loop."""

    def on_algo(self, account: str, event: AlgoEvent) -> None: ...


@runtime_checkable
class AlgoVenue(Protocol):
    """A venue that executes parent orders. Errors are `VenueError`s (`VenueTimeout`: outcome unknown;
    query by client order id before creating again)."""

    name: str
    kind: str

    def bind_algo(self, sink: AlgoSink) -> None: ...
    async def create_parent(self, spec: ParentSpec) -> ParentOrder: ...
    async def cancel_parent(self, parent_id: str, reason: str | None = None) -> None: ...
    async def pause_parent(self, parent_id: str, reason: str | None = None) -> None: ...
    async def resume_parent(self, parent_id: str, reason: str | None = None) -> None: ...
    async def update_parent(self, parent_id: str, fields: Mapping[str, Any]) -> None:
        """Change a running parent; `fields` use the venue's update names, decimals as Decimal."""
        ...
    async def batch_cancel(self, parent_ids: list[str], reason: str | None = None) -> dict[str, Any]:
        """Cancel several parents in one request: ``{successCount, failedOrders: [{masterOrderId, reason}]}``."""
        ...
    async def get_parent(self, parent_id: str | None = None, client_order_id: str | None = None
                         ) -> ParentOrder | None: ...  # None: the venue has no such parent
    async def list_parents(self, *, open_only: bool = False, page: int = 1, page_size: int = 100) -> ParentPage: ...
    async def parent_children(self, parent_id: str) -> list[ChildOrder]: ...
    async def exchange_apis(self) -> list[dict[str, Any]]: ...
    async def trading_pairs(self, params: Mapping[str, Any]) -> dict[str, Any]: ...
