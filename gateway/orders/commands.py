"""What the order manager consumes (commands, venue outcomes) and what it returns (a `Decision`).

Commands come from strategies through the service; outcomes are the answers of venue calls the service
made on the manager's behalf; venue reports (`core.events.OrderUpdate` / `Fill`) are consumed as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from gateway.core.enums import OrderType, Side, TimeInForce
from gateway.core.errors import GatewayError, RequestError
from gateway.core.events import Fill, OrderUpdate
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities, OrderRequest
from gateway.orders.model import FillRecord, Order

__all__ = [
    "AmendOutcome",
    "CancelAll",
    "CancelOrder",
    "CancelOutcome",
    "Command",
    "Decision",
    "GroupOutcome",
    "Intent",
    "JournalEntry",
    "Message",
    "ModifyOrder",
    "Pending",
    "PlaceGroup",
    "PlaceOrder",
    "PlaceOutcome",
    "PlaceParams",
    "QueryOutcome",
    "Reconciled",
    "SendAmend",
    "SendCancel",
    "SendGroup",
    "SendPlace",
    "SendQuery",
    "SetKillSwitch",
    "Tick",
    "WaiterKey",
]


# --- commands ------------------------------------------------------------------------------------------


def _decimal(params: Mapping[str, Any], name: str, required: bool = False) -> Decimal | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise RequestError(f"{name} is required", details={"field": name})
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, TypeError, ValueError):
        raise RequestError(f"{name} must be a decimal string", details={"field": name}) from None
    if not result.is_finite():
        raise RequestError(f"{name} must be finite", details={"field": name})
    return result


def _enum(params: Mapping[str, Any], name: str, enum: type, default: Any = None) -> Any:
    value = params.get(name)
    if value is None:
        if default is None:
            raise RequestError(f"{name} is required", details={"field": name})
        return default
    try:
        return enum(str(value).lower())
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise RequestError(f"{name} must be one of {allowed}", details={"field": name}) from None


@dataclass(frozen=True, slots=True)
class PlaceParams:
    """The parameters of `order.place`, typed (not yet quantized or checked against the venue)."""

    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    client_order_id: str | None = None

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any]) -> PlaceParams:
        """Build from the API's params (strings, numbers, enum values).

        Raises:
            RequestError: INVALID_PARAMS for a missing or malformed field.
        """
        symbol = params.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise RequestError("symbol is required", details={"field": "symbol"})
        client_order_id = params.get("client_order_id")
        if client_order_id is not None and not isinstance(client_order_id, str):
            raise RequestError("client_order_id must be a string", details={"field": "client_order_id"})
        reduce_only = params.get("reduce_only", False)
        if not isinstance(reduce_only, bool):
            raise RequestError("reduce_only must be a boolean", details={"field": "reduce_only"})
        return cls(
            symbol=symbol,
            side=_enum(params, "side", Side),
            type=_enum(params, "type", OrderType, OrderType.LIMIT),
            qty=_decimal(params, "qty", required=True),  # type: ignore[arg-type]
            price=_decimal(params, "price"),
            trigger_price=_decimal(params, "trigger_price"),
            tif=_enum(params, "tif", TimeInForce, TimeInForce.GTC),
            reduce_only=reduce_only,
            client_order_id=client_order_id or None,
        )


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Place an order. The service resolves the venue's instrument and capabilities before sending this."""

    strategy: str | None
    account: str
    params: PlaceParams
    instrument: Instrument
    capabilities: Capabilities


@dataclass(frozen=True, slots=True)
class PlaceGroup:
    """Place an entry and its take-profit / stop-loss children as one venue request (`GroupedOrderVenue`).

    Every order carries its client order id (the bracket's). Each is journaled and tracked as an order of
    its own; the children are reduce-only conditional orders the venue sizes to the entry's execution.
    """

    strategy: str | None
    account: str
    entry: PlaceParams
    children: tuple[PlaceParams, ...]
    instrument: Instrument
    capabilities: Capabilities


@dataclass(frozen=True, slots=True)
class CancelOrder:
    strategy: str | None
    account: str
    order_id: str | None = None
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Cancel the open orders of `account` (of `strategy` only, unless None), optionally of one symbol."""

    strategy: str | None
    account: str
    symbol: str | None = None


@dataclass(frozen=True, slots=True)
class ModifyOrder:
    """Amend qty and/or price of a live order at the venue (only sent for venues with `amend`)."""

    strategy: str | None
    account: str
    instrument: Instrument
    order_id: str | None = None
    client_order_id: str | None = None
    qty: Decimal | None = None
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SetKillSwitch:
    """Engage (or release) the kill switch; engaging with `cancel_open` also cancels every open order."""

    engaged: bool
    cancel_open: bool = False


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: issue due venue queries for unresolved orders, prune memory."""


@dataclass(frozen=True, slots=True)
class Reconciled:
    """A venue's view after (re)connecting: its open orders, orders and fills since our last event."""

    venue: str
    open_orders: tuple[OrderUpdate, ...]
    orders: tuple[OrderUpdate, ...] = ()
    fills: tuple[Fill, ...] = ()


# --- outcomes of venue calls the service made for the manager -----------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceOutcome:
    account: str
    key: str
    update: OrderUpdate | None = None
    error: GatewayError | None = None


@dataclass(frozen=True, slots=True)
class GroupOutcome:
    """The answer to a `SendGroup`: one report per key (in order), or the error for the whole group."""

    account: str
    keys: tuple[str, ...]
    updates: tuple[OrderUpdate, ...] = ()
    error: GatewayError | None = None


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    account: str
    key: str
    update: OrderUpdate | None = None
    error: GatewayError | None = None


@dataclass(frozen=True, slots=True)
class AmendOutcome:
    account: str
    key: str
    update: OrderUpdate | None = None
    error: GatewayError | None = None


@dataclass(frozen=True, slots=True)
class QueryOutcome:
    """The answer of `get_order`: `update` None with no `error` means the venue has no such order."""

    account: str
    key: str
    asked_at: int
    update: OrderUpdate | None = None
    error: GatewayError | None = None


Command = PlaceOrder | PlaceGroup | CancelOrder | CancelAll | ModifyOrder | SetKillSwitch
Message = (
    Command | Tick | Reconciled | PlaceOutcome | GroupOutcome | CancelOutcome | AmendOutcome | QueryOutcome
    | OrderUpdate | Fill
)


# --- intents: venue calls the service makes after persisting and publishing ----------------------------


@dataclass(frozen=True, slots=True)
class SendPlace:
    venue: str
    account: str
    key: str
    request: OrderRequest


@dataclass(frozen=True, slots=True)
class SendGroup:
    """Send an entry and its children in one request; `keys` and `requests` in the same order (entry first)."""

    venue: str
    account: str
    keys: tuple[str, ...]
    requests: tuple[OrderRequest, ...]


@dataclass(frozen=True, slots=True)
class SendCancel:
    venue: str
    account: str
    key: str
    symbol: str
    order_id: str | None
    client_order_id: str | None


@dataclass(frozen=True, slots=True)
class SendAmend:
    venue: str
    account: str
    key: str
    symbol: str
    order_id: str | None
    client_order_id: str | None
    qty: Decimal | None
    price: Decimal | None


@dataclass(frozen=True, slots=True)
class SendQuery:
    venue: str
    account: str
    key: str
    symbol: str
    order_id: str | None
    client_order_id: str | None
    asked_at: int


Intent = SendPlace | SendGroup | SendCancel | SendAmend | SendQuery

# ("place" | "cancel" | "amend", account, order key): what a command's caller waits for.
WaiterKey = tuple[str, str, str]


class JournalEntry(NamedTuple):
    ts: int
    kind: str  # intent.place, intent.cancel, intent.amend, transition, fill.unmatched, ...
    account: str
    client_order_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Pending:
    """A command's reply that comes later: the caller waits for each key to be settled."""

    keys: tuple[WaiterKey, ...]


@dataclass(slots=True)
class Decision:
    """What one message changed, in the order the service must carry it out: persist, send, publish.

    `orders` are the records touched (the service persists their state as of the end of its batch, and
    publishes each); `unpublished` are records whose stored state changed but not their public view (a
    venue report confirming fills we already had): persisted, not published again. `events` are
    `(account, kind, data)` for the publish callback; `settle` resolves waiting callers. `positions` are
    the risk book's net positions a fill changed, `(strategy, account, symbol, qty)`, to store.
    """

    orders: list[Order] = field(default_factory=list)
    unpublished: list[Order] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)
    positions: list[tuple[str | None, str, str, Decimal]] = field(default_factory=list)
    journal: list[JournalEntry] = field(default_factory=list)
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    intents: list[Intent] = field(default_factory=list)
    settle: list[tuple[WaiterKey, Any]] = field(default_factory=list)
    reply: Any = None  # dict | list | Pending | GatewayError | None

    @property
    def error(self) -> GatewayError | None:
        return self.reply if isinstance(self.reply, GatewayError) else None
