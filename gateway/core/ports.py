"""The contracts between the middle packages. `app.wire()` plugs concrete pieces into them.

A venue session (`VenueAdapter`) is entered as an async context manager, pushes what it sees into the
`VenueSink` it was given, and answers requests. Market events and user reports flow *out* through the
sink; commands flow *in* through the request methods, which return the venue's immediate answer or raise
a `VenueError` (`VenueTimeout` when the outcome is unknown).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, Self, runtime_checkable

from gateway.core.enums import ConnectionState, MarginType, OrderType, Side, TimeInForce
from gateway.core.events import (
    Balance,
    Depth,
    Fill,
    Kline,
    MarketEvent,
    OrderUpdate,
    Position,
    Ticker,
    Trade,
    UserEvent,
)
from gateway.core.instruments import Instrument

__all__ = [
    "Capabilities",
    "ClientIdMemory",
    "GroupedOrderVenue",
    "OrderRequest",
    "RawVenue",
    "VenueAdapter",
    "VenueSink",
]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a venue does natively; the order manager emulates or refuses the rest."""

    amend: bool = False
    stop_orders: bool = False  # stop / stop_limit / take_profit / take_profit_limit
    attached_tpsl: bool = False
    grouped_tpsl: bool = False  # places an entry with its TP/SL children in one request (`GroupedOrderVenue`)
    post_only: bool = True
    reduce_only: bool = False
    market_data_stream: bool = True
    client_order_id_max_len: int = 36
    client_order_id_alphabet: str = "A-Za-z0-9_-"  # regex character class body


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as it goes to a venue: already validated and quantized by the order manager."""

    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    client_order_id: str
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False


class VenueSink(Protocol):
    """Where a venue session pushes what it sees. Must not block; called on the event loop."""

    def on_market(self, event: MarketEvent) -> None: ...
    def on_user(self, event: UserEvent) -> None: ...
    def on_connection(self, venue: str, state: ConnectionState, reason: str | None = None) -> None: ...


class VenueAdapter(Protocol):
    name: str  # the configured venue name, which is also the account name
    kind: str  # sim, binance, okx, lighter, qe
    capabilities: Capabilities

    @property
    def state(self) -> ConnectionState: ...
    @property
    def instruments(self) -> dict[str, Instrument]: ...  # by unified symbol

    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc_info: object) -> None: ...
    def bind(self, sink: VenueSink) -> None: ...

    # market data on demand (the cache's fallback)
    async def fetch_ticker(self, symbol: str) -> Ticker: ...
    async def fetch_depth(self, symbol: str, limit: int) -> Depth: ...
    async def fetch_trades(self, symbol: str, limit: int) -> list[Trade]: ...
    async def fetch_klines(
        self, symbol: str, interval: str, limit: int, start: int | None = None, end: int | None = None
    ) -> list[Kline]: ...

    # trading
    async def place_order(self, request: OrderRequest) -> OrderUpdate: ...
    async def cancel_order(
        self, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderUpdate: ...
    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]: ...
    async def amend_order(
        self,
        symbol: str,
        order_id: str | None = None,
        client_order_id: str | None = None,
        qty: Decimal | None = None,
        price: Decimal | None = None,
    ) -> OrderUpdate: ...
    async def get_order(
        self, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderUpdate | None: ...  # None: the venue has no such order
    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]: ...
    async def orders_since(self, since_ms: int) -> list[OrderUpdate]: ...
    async def fills_since(self, since_ms: int) -> list[Fill]: ...
    async def balances(self) -> list[Balance]: ...
    async def positions(self) -> list[Position]: ...
    async def set_leverage(self, symbol: str, leverage: int) -> dict[str, object]: ...
    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> dict[str, object]: ...


@runtime_checkable
class RawVenue(Protocol):
    """A venue that forwards raw calls to its own API (FMZ `__api_<path>`, the planned `venue.raw`).

    Optional: a venue without it answers raw calls with NOT_SUPPORTED (the sim has no raw API).
    """

    async def raw_request(self, http_method: str, path: str, params: dict[str, Any]) -> Any: ...


@runtime_checkable
class GroupedOrderVenue(Protocol):
    """A venue that takes an entry and its take-profit / stop-loss children as one request (Lighter's
    OTOCO grouped orders). The children are reduce-only conditional orders on the exit side that the venue
    sizes to the entry's executed quantity and cancels one-cancels-other; `Capabilities.grouped_tpsl`.

    Optional, like `RawVenue`: the bracket service uses it for native brackets where the venue has it.
    """

    async def place_group(self, entry: OrderRequest, take_profit: OrderRequest | None,
                          stop_loss: OrderRequest | None) -> list[OrderUpdate]:
        """Send the group; return one report per given order, in the order given (entry, tp, sl).

        Raises:
            VenueError: the venue refused the whole group (nothing was placed).
            VenueTimeout: the answer was lost; whether the group was placed is unknown.
        """
        ...


@runtime_checkable
class ClientIdMemory(Protocol):
    """A venue that keeps only a digest of each client order id (Lighter keeps a 48-bit index): a new
    session cannot name an order by the gateway's id until it is told the ids. The order service tells it
    the ids of the orders it restored, before the first reconciliation, so none of them looks external.
    """

    def remember_client_order_ids(self, client_order_ids: Iterable[str]) -> None: ...
