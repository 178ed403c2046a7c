"""The venue's truth as reconciliation sees it: a snapshot (`VenueView`) and its lookup index (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from gateway.core.enums import OrderStatus
from gateway.core.events import Fill, OrderUpdate, Position
from gateway.orders.brackets.machine import OrderReport
from gateway.orders.brackets.model import ZERO

__all__ = ["PriceView", "VenueTruth", "VenueView"]


@dataclass(frozen=True, slots=True)
class PriceView:
    """Prices of one symbol now, and the extremes over the gap the gateway was away (when known)."""

    last: Decimal | None = None
    mark: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None
    high: Decimal | None = None  # highest price since the gateway last watched (e.g. 1m klines)
    low: Decimal | None = None


@dataclass(frozen=True, slots=True)
class VenueView:
    """The venue's truth for one venue/account, as the service fetched it.

    `recent_orders` must reach back to the oldest live leg's request (or the last time the gateway was
    sure of the venue), or a leg that filled and aged out shows only through `fills`.
    """

    venue: str
    open_orders: Sequence[OrderUpdate] = ()
    recent_orders: Sequence[OrderUpdate] = ()
    fills: Sequence[Fill] = ()
    positions: Mapping[str, Decimal] | None = None  # signed qty by symbol; a missing symbol is flat; None: unknown
    prices: Mapping[str, PriceView] = field(default_factory=dict)
    ts: int = 0  # venue time of the snapshot (ms); positions older than a bracket's last fill are ignored

    @classmethod
    def from_reports(cls, venue: str, *, open_orders: Iterable[OrderUpdate] = (),
                     recent_orders: Iterable[OrderUpdate] = (), fills: Iterable[Fill] = (),
                     positions: Iterable[Position] | None = None, prices: Mapping[str, PriceView] | None = None,
                     ts: int = 0) -> VenueView:
        """Build a view from the VenueAdapter's answers (positions as `core.events.Position`)."""
        pos = None if positions is None else {p.symbol: p.qty for p in positions}
        return cls(venue, tuple(open_orders), tuple(recent_orders), tuple(fills), pos, dict(prices or {}), ts)


class VenueTruth:
    """The view indexed: orders by client id and venue id, fills summed by client id and venue id."""

    def __init__(self, view: VenueView):
        self.by_cid: dict[str, OrderUpdate] = {}
        self.by_oid: dict[str, OrderUpdate] = {}
        for order in (*view.recent_orders, *view.open_orders):  # an open report wins over an older closed one
            for index, key in ((self.by_cid, order.client_order_id), (self.by_oid, order.order_id)):
                if key:
                    known = index.get(key)
                    if known is None or order.ts >= known.ts or order.status.is_terminal:
                        index[key] = order
        self.fill_cid: dict[str, tuple[Decimal, int]] = {}
        self.fill_oid: dict[str, tuple[Decimal, int]] = {}
        for fill in view.fills:
            for index, key in ((self.fill_cid, fill.client_order_id), (self.fill_oid, fill.order_id)):
                if key:
                    qty, ts = index.get(key, (ZERO, 0))
                    index[key] = (qty + fill.qty, max(ts, fill.ts))

    def find(self, cid: str | None, oid: str | None) -> OrderUpdate | None:
        return (self.by_cid.get(cid) if cid else None) or (self.by_oid.get(oid) if oid else None)

    def from_fills(self, cid: str | None, oid: str | None, qty: Decimal) -> OrderReport | None:
        got = (self.fill_cid.get(cid) if cid else None) or (self.fill_oid.get(oid) if oid else None)
        if got is None:
            return None
        status = OrderStatus.FILLED if got[0] >= qty else OrderStatus.PARTIALLY_FILLED
        return OrderReport(cid, oid, status, got[0], ts=got[1])
