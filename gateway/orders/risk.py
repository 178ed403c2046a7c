"""Pre-trade risk: per-strategy limits and the kill switch. Pure: state in, verdict out, no I/O.

`RiskBook` keeps what the limits need (open orders, net filled position per symbol, recent placement
times), fed by the order manager; `check` raises `OrderRejected(RISK_LIMIT)` or returns.

Position limit: |net filled qty + remaining qty of the strategy's open orders on the new order's side
+ the new order's qty| must stay within `max_position`, for the new order's side (worst case if every
open order on that side fills).
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from gateway.core.enums import Side
from gateway.core.errors import ErrorCode, OrderRejected
from gateway.orders.config import RiskLimits
from gateway.orders.model import ZERO, Order

__all__ = ["RiskBook", "KILL_SWITCH_MESSAGE"]

KILL_SWITCH_MESSAGE = "kill switch engaged"
_WINDOW_MS = 1_000


class RiskBook:
    """Per-strategy risk state and the kill switch. Owned by the order manager (single writer)."""

    def __init__(self) -> None:
        self.kill_switch = False
        self._open: dict[str | None, set[Order]] = {}
        self._positions: dict[tuple[str | None, str, str], Decimal] = {}
        self._recent: dict[str | None, deque[int]] = {}

    # --- feeding --------------------------------------------------------------------------------------

    def on_open(self, order: Order) -> None:
        """Count `order` as open (call when it is created non-terminal or reloaded)."""
        self._open.setdefault(order.strategy, set()).add(order)

    def on_closed(self, order: Order) -> None:
        """Stop counting `order` as open (call when it reaches a terminal status)."""
        held = self._open.get(order.strategy)
        if held is not None:
            held.discard(order)

    def on_fill(self, strategy: str | None, account: str, symbol: str, side: Side, qty: Decimal) -> Decimal:
        """Count a fill of the strategy's order; return the strategy's net position after it."""
        key = (strategy, account, symbol)
        position = self._positions[key] = self._positions.get(key, ZERO) + (qty if side is Side.BUY else -qty)
        return position

    def set_position(self, strategy: str | None, account: str, symbol: str, qty: Decimal) -> None:
        """Restore a stored net position (at start, before any fill)."""
        self._positions[(strategy, account, symbol)] = qty

    def positions(self) -> list[tuple[str | None, str, str, Decimal]]:
        """Return every net position as (strategy, account, symbol, qty)."""
        return [(*key, qty) for key, qty in self._positions.items()]

    def on_placed(self, strategy: str | None, now: int) -> None:
        """Record a placement at `now` for the rate limit."""
        self._recent.setdefault(strategy, deque()).append(now)

    # --- views ----------------------------------------------------------------------------------------

    def open_count(self, strategy: str | None) -> int:
        held = self._open.get(strategy)
        return len(held) if held else 0

    def position(self, strategy: str | None, account: str, symbol: str) -> Decimal:
        return self._positions.get((strategy, account, symbol), ZERO)

    # --- the check ------------------------------------------------------------------------------------

    def check(
        self,
        strategy: str | None,
        limits: RiskLimits,
        account: str,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal | None,
        now: int,
    ) -> None:
        """Check a new order of `strategy` against the kill switch and `limits`.

        Raises:
            OrderRejected: RISK_LIMIT, with the limit's name and value in `details`.
        """
        if self.kill_switch:
            raise OrderRejected(KILL_SWITCH_MESSAGE, code=ErrorCode.RISK_LIMIT, details={"limit": "kill_switch"})
        if limits.max_order_notional is not None and price is not None:
            notional = price * qty
            if notional > limits.max_order_notional:
                _refuse("max_order_notional", limits.max_order_notional, notional)
        if limits.max_open_orders is not None and self.open_count(strategy) >= limits.max_open_orders:
            _refuse("max_open_orders", limits.max_open_orders, self.open_count(strategy) + 1)
        if limits.max_orders_per_s is not None:
            recent = self._recent.get(strategy)
            if recent:
                while recent and recent[0] <= now - _WINDOW_MS:
                    recent.popleft()
            if recent is not None and len(recent) >= limits.max_orders_per_s:
                _refuse("max_orders_per_s", limits.max_orders_per_s, len(recent) + 1)
        if limits.max_position is not None:
            exposure = self.position(strategy, account, symbol)
            for order in self._open.get(strategy, ()):
                if order.side is side and order.symbol == symbol and order.account == account:
                    exposure += order.remaining_qty if side is Side.BUY else -order.remaining_qty
            exposure += qty if side is Side.BUY else -qty
            if abs(exposure) > limits.max_position:
                _refuse("max_position", limits.max_position, abs(exposure))


def _refuse(limit: str, value: object, would_be: object) -> None:
    raise OrderRejected(
        f"{limit} exceeded ({would_be} > {value})",
        code=ErrorCode.RISK_LIMIT,
        details={"limit": limit, "value": str(value), "would_be": str(would_be)},
    )
