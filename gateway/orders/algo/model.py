"""The algorithmic parent order ("algo"), its child orders, and the parent's state machine. Pure.

An algo is owned by exactly one writer (the local engine's writer task); everything else sees its public
dict (`to_public()`, the strategy API's algo shape) or its persisted record (`to_record()`).

States (the QE master-order status each one reports as, in brackets):

    pending    accepted, waiting for its start time                    (WAITING)
    running    slicing child orders                                    (PROCESSING)
    paused     no new child; the live one was canceled                 (PAUSED)
    completed  the parent quantity (or notional) is done               (COMPLETED / COMPLETED_WITHTAIL)
    canceled   by request                                              (CANCELLED)
    expired    the horizon ended before completion                     (EXPIRED)
    failed     the venue kept refusing its children                    (REJECTED)

A child that was live when the parent ended may still report fills (a fill that raced the cancel): they
are folded into `filled_qty` of the ended parent, never into a new child.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from gateway.core.enums import OrderStatus, Side, TimeInForce

__all__ = [
    "ALLOWED_ALGO_TRANSITIONS",
    "QE_STATUS",
    "TERMINAL_ALGO_STATES",
    "ZERO",
    "Algo",
    "AlgoState",
    "Algorithm",
    "Child",
    "ChildRole",
    "InvalidAlgoTransition",
    "transition",
]

ZERO = Decimal(0)


class Algorithm(StrEnum):
    """Execution algorithms, spelled as QE spells them on the wire."""

    TWAP = "TWAP"
    VWAP = "VWAP"
    POV = "POV"
    BOOST_TWAP = "BoostTWAP"  # QE's high-frequency alpha variants: only QE runs them
    BOOST_VWAP = "BoostVWAP"

    @property
    def is_boost(self) -> bool:
        return self in (Algorithm.BOOST_TWAP, Algorithm.BOOST_VWAP)

    @classmethod
    def parse(cls, value: str) -> Algorithm | None:
        """Return the algorithm named `value` (any letter case), or None."""
        folded = value.strip().lower()
        for member in cls:
            if member.value.lower() == folded:
                return member
        return None


class AlgoState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELED = "canceled"
    EXPIRED = "expired"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_ALGO_STATES


TERMINAL_ALGO_STATES: Final = frozenset({AlgoState.COMPLETED, AlgoState.CANCELED, AlgoState.EXPIRED,
                                         AlgoState.FAILED})

QE_STATUS: Final[dict[AlgoState, str]] = {
    AlgoState.PENDING: "WAITING", AlgoState.RUNNING: "PROCESSING", AlgoState.PAUSED: "PAUSED",
    AlgoState.COMPLETED: "COMPLETED", AlgoState.CANCELED: "CANCELLED", AlgoState.EXPIRED: "EXPIRED",
    AlgoState.FAILED: "REJECTED",
}

_P, _R, _Z = AlgoState.PENDING, AlgoState.RUNNING, AlgoState.PAUSED
_C, _X, _E, _F = AlgoState.COMPLETED, AlgoState.CANCELED, AlgoState.EXPIRED, AlgoState.FAILED

ALLOWED_ALGO_TRANSITIONS: Final[frozenset[tuple[AlgoState, AlgoState]]] = frozenset({
    (_P, _R),  # start time reached
    (_P, _Z),  # paused before it started
    (_P, _X),
    (_P, _E),  # the horizon passed while it waited (a restart after a long outage)
    (_R, _Z),
    (_R, _C),
    (_R, _X),
    (_R, _E),
    (_R, _F),  # the venue kept refusing its children
    (_Z, _R),  # resumed
    (_Z, _P),  # resumed before its start time
    (_Z, _X),
    (_Z, _E),  # the horizon ended while paused
    (_Z, _C),  # a fill of the child canceled by the pause raced the cancel and completed the parent
})


class InvalidAlgoTransition(AssertionError):
    """A state change the table does not allow: a bug, not a venue fact."""


def transition(algo: Algo, to: AlgoState, now_ms: int, reason: str | None = None) -> None:
    """Move `algo` to `to` (the only way its state changes).

    Raises:
        InvalidAlgoTransition: the pair is not in `ALLOWED_ALGO_TRANSITIONS`.
    """
    if (algo.state, to) not in ALLOWED_ALGO_TRANSITIONS:
        raise InvalidAlgoTransition(f"algo {algo.algo_id}: {algo.state} -> {to} is not allowed")
    algo.state = to
    if reason is not None:
        algo.reason = reason
    algo.updated_ts = now_ms
    if to.is_terminal:
        algo.ended_ts = now_ms


class ChildRole(StrEnum):
    MAKER = "maker"  # post-only (or plain limit) at/inside the touch
    TAKER = "taker"  # IOC at the far touch: catching up, finishing, or enable_make=false


@dataclass(slots=True)
class Child:
    """One child order as the algo tracks it (the order service holds the order itself)."""

    seq: int
    client_order_id: str
    role: ChildRole
    side: Side
    qty: Decimal
    price: Decimal
    tif: TimeInForce
    created_ts: int
    status: OrderStatus = OrderStatus.PENDING_NEW
    order_id: str | None = None
    filled_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    reason: str | None = None
    cancel_requested: bool = False
    updated_ts: int = 0

    @property
    def is_live(self) -> bool:
        return not self.status.is_terminal

    @property
    def notional(self) -> Decimal:
        """price * qty over the child's fills (avg_price * filled_qty)."""
        return ZERO if self.avg_price is None else self.avg_price * self.filled_qty

    def to_record(self) -> list[Any]:
        return [self.seq, self.client_order_id, self.role.value, self.side.value, str(self.qty), str(self.price),
                self.tif.value, self.created_ts, self.status.value, self.order_id, str(self.filled_qty),
                None if self.avg_price is None else str(self.avg_price), self.reason, self.cancel_requested,
                self.updated_ts]

    @classmethod
    def from_record(cls, r: list[Any]) -> Child:
        return cls(seq=r[0], client_order_id=r[1], role=ChildRole(r[2]), side=Side(r[3]), qty=Decimal(r[4]),
                   price=Decimal(r[5]), tif=TimeInForce(r[6]), created_ts=r[7], status=OrderStatus(r[8]),
                   order_id=r[9], filled_qty=Decimal(r[10]), avg_price=None if r[11] is None else Decimal(r[11]),
                   reason=r[12], cancel_requested=r[13], updated_ts=r[14])

    def to_public(self) -> dict[str, Any]:
        return {"seq": self.seq, "client_order_id": self.client_order_id, "order_id": self.order_id,
                "role": self.role, "side": self.side, "qty": self.qty, "price": self.price, "tif": self.tif,
                "status": self.status, "filled_qty": self.filled_qty, "avg_price": self.avg_price,
                "reason": self.reason, "created_ts": self.created_ts, "updated_ts": self.updated_ts}


@dataclass(slots=True, eq=False)
class Algo:
    """A parent order. `params` is the validated request (`validation.AlgoRequest.to_record()` form).

    Amounts: a quantity parent (`qty`) is measured in base units, a notional parent (`notional`) in quote
    units; `target` is whichever was given, `done` the matching filled amount.
    """

    algo_id: str
    account: str
    venue: str
    symbol: str
    side: Side
    algorithm: Algorithm
    qty: Decimal | None
    notional: Decimal | None
    start_ts: int
    end_ts: int
    created_ts: int
    updated_ts: int
    params: dict[str, Any]  # the request as validated (limit price, tolerances, flags, ...)
    schedule: tuple[Decimal, ...]  # cumulative target fractions at the end of each slice (empty for POV)
    profile: str  # how the schedule was made: even | volume | volume_fallback_even | pov
    client_order_id: str | None = None
    strategy: str | None = None
    state: AlgoState = AlgoState.PENDING
    reason: str | None = None
    children: list[Child] = field(default_factory=list)
    next_seq: int = 1
    market_volume: Decimal = ZERO  # POV: base volume traded on the tape since the start
    market_notional: Decimal = ZERO  # POV on a notional parent: quote volume since the start
    rejects: int = 0  # consecutive child refusals (a fill resets it)
    ended_ts: int | None = None
    version: int = 0

    # --- derived ---------------------------------------------------------------------------------------

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    @property
    def by_notional(self) -> bool:
        return self.notional is not None

    @property
    def target(self) -> Decimal:
        return self.notional if self.notional is not None else self.qty  # type: ignore[return-value]

    @property
    def filled_qty(self) -> Decimal:
        return sum((c.filled_qty for c in self.children), ZERO)

    @property
    def filled_notional(self) -> Decimal:
        return sum((c.notional for c in self.children), ZERO)

    @property
    def done(self) -> Decimal:
        """The filled amount in the parent's unit (base qty, or quote notional)."""
        return self.filled_notional if self.by_notional else self.filled_qty

    @property
    def remaining(self) -> Decimal:
        rest = self.target - self.done
        return rest if rest > 0 else ZERO

    @property
    def avg_price(self) -> Decimal | None:
        filled = self.filled_qty
        return None if filled == 0 else self.filled_notional / filled

    @property
    def maker_rate(self) -> Decimal | None:
        filled = self.filled_qty
        if filled == 0:
            return None
        return sum((c.filled_qty for c in self.children if c.role is ChildRole.MAKER), ZERO) / filled

    @property
    def progress(self) -> Decimal:
        """Done / target, in [0, 1]."""
        return min(Decimal(1), self.done / self.target) if self.target > 0 else Decimal(1)

    def live_children(self) -> list[Child]:
        return [c for c in self.children if c.is_live]

    def child(self, client_order_id: str) -> Child | None:
        for c in reversed(self.children):
            if c.client_order_id == client_order_id:
                return c
        return None

    # --- views -----------------------------------------------------------------------------------------

    def to_public(self) -> dict[str, Any]:
        """Return the strategy API's algo shape."""
        live = self.live_children()
        return {
            "algo_id": self.algo_id,
            "client_order_id": self.client_order_id,
            "account": self.account,
            "venue": self.venue,
            "symbol": self.symbol,
            "side": self.side,
            "algorithm": self.algorithm,
            "qty": self.qty,
            "notional": self.notional,
            "state": self.state,
            "qe_status": QE_STATUS[self.state],
            "filled_qty": self.filled_qty,
            "filled_notional": self.filled_notional,
            "avg_price": None if self.avg_price is None else _round(self.avg_price),
            "progress": _round(self.progress, "0.0001"),
            "maker_rate": None if self.maker_rate is None else _round(self.maker_rate, "0.0001"),
            "start_ts": self.start_ts,
            "end_ts": self.end_ts,
            "schedule": self.profile,
            "children": len(self.children),
            "live_child": live[-1].to_public() if live else None,
            "params": self.params,
            "reason": self.reason,
            "created_ts": self.created_ts,
            "updated_ts": self.updated_ts,
            "ended_ts": self.ended_ts,
            "version": self.version,
        }

    def to_record(self) -> dict[str, Any]:
        return {
            "algo_id": self.algo_id, "account": self.account, "venue": self.venue, "symbol": self.symbol,
            "side": self.side.value, "algorithm": self.algorithm.value,
            "qty": None if self.qty is None else str(self.qty),
            "notional": None if self.notional is None else str(self.notional),
            "start_ts": self.start_ts, "end_ts": self.end_ts, "created_ts": self.created_ts,
            "updated_ts": self.updated_ts, "params": self.params, "schedule": [str(s) for s in self.schedule],
            "profile": self.profile, "client_order_id": self.client_order_id, "strategy": self.strategy,
            "state": self.state.value, "reason": self.reason, "children": [c.to_record() for c in self.children],
            "next_seq": self.next_seq, "market_volume": str(self.market_volume),
            "market_notional": str(self.market_notional), "rejects": self.rejects, "ended_ts": self.ended_ts,
            "version": self.version,
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Algo:
        return cls(
            algo_id=r["algo_id"], account=r["account"], venue=r["venue"], symbol=r["symbol"], side=Side(r["side"]),
            algorithm=Algorithm(r["algorithm"]), qty=None if r["qty"] is None else Decimal(r["qty"]),
            notional=None if r["notional"] is None else Decimal(r["notional"]), start_ts=r["start_ts"],
            end_ts=r["end_ts"], created_ts=r["created_ts"], updated_ts=r["updated_ts"], params=r["params"],
            schedule=tuple(Decimal(s) for s in r["schedule"]), profile=r["profile"],
            client_order_id=r["client_order_id"], strategy=r["strategy"], state=AlgoState(r["state"]),
            reason=r["reason"], children=[Child.from_record(c) for c in r["children"]], next_seq=r["next_seq"],
            market_volume=Decimal(r["market_volume"]), market_notional=Decimal(r["market_notional"]),
            rejects=r["rejects"], ended_ts=r["ended_ts"], version=r["version"],
        )


def _round(value: Decimal, places: str = "0.00000001") -> Decimal:
    return value.quantize(Decimal(places)).normalize() if value != 0 else ZERO
