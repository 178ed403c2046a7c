"""The bracket service's in-memory registry: brackets by id, venue order id and symbol, and armed triggers.

Pure (no I/O). `BracketBook` is what the service's single writer reads and updates: it keeps the
`TriggerIndex` and, beside it, the set of (venue, symbol) pairs that have at least one armed emulated
leg (`watched`): the market service asks that set before handing a tick over, so a symbol with nothing
armed costs one set lookup per market event and nothing more.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator

from gateway.orders.brackets.intents import ArmTrigger, LegKey
from gateway.orders.brackets.model import Bracket
from gateway.orders.brackets.triggers import TriggerIndex

__all__ = ["BracketBook"]


class BracketBook:
    """Brackets (live and recently ended) with their lookup indexes and the trigger index."""

    def __init__(self) -> None:
        self.brackets: dict[str, Bracket] = {}
        self.strategy: dict[str, str | None] = {}
        self.index = TriggerIndex()
        self.watched: set[tuple[str, str]] = set()  # (venue, symbol) with >= 1 armed leg
        self._armed: dict[tuple[str, str], int] = {}
        self._by_oid: dict[tuple[str, str], str] = {}  # (venue, venue order id) -> bracket id
        self._live_by_symbol: dict[tuple[str, str], set[str]] = {}  # (account, symbol) -> live bracket ids

    def __len__(self) -> int:
        return len(self.brackets)

    def __contains__(self, bracket_id: object) -> bool:
        return bracket_id in self.brackets

    def get(self, bracket_id: str) -> Bracket | None:
        return self.brackets.get(bracket_id)

    def add(self, bracket: Bracket, strategy: str | None) -> None:
        """Register a new (or loaded) bracket."""
        self.strategy[bracket.bracket_id] = strategy
        self.put(bracket)

    def put(self, bracket: Bracket) -> None:
        """Store `bracket` (a new record object replaces the old one: reconciliation repairs copies); reindex it."""
        bid = bracket.bracket_id
        self.brackets[bid] = bracket
        for oid in (bracket.entry.order_id, bracket.take_profit.order_id, bracket.stop_loss.order_id):
            if oid:
                self._by_oid[(bracket.venue, oid)] = bid
        key = (bracket.account, bracket.symbol)
        if bracket.is_terminal:
            live = self._live_by_symbol.get(key)
            if live is not None:
                live.discard(bid)
                if not live:
                    del self._live_by_symbol[key]
        else:
            self._live_by_symbol.setdefault(key, set()).add(bid)

    def by_order_id(self, venue: str, order_id: str) -> str | None:
        return self._by_oid.get((venue, order_id))

    def live_on(self, account: str, symbol: str) -> list[Bracket]:
        """Return the live brackets of `account` on `symbol`."""
        return [self.brackets[b] for b in self._live_by_symbol.get((account, symbol), ())]

    def has_live_on(self, account: str, symbol: str) -> bool:
        return bool(self._live_by_symbol.get((account, symbol)))

    def of_venue(self, venue: str) -> list[Bracket]:
        return [b for b in self.brackets.values() if b.venue == venue]

    def live(self) -> Iterator[Bracket]:
        return (b for b in self.brackets.values() if not b.is_terminal)

    # --- triggers ---------------------------------------------------------------------------------------

    def arm(self, arm: ArmTrigger) -> None:
        """Put an emulated leg in the trigger index (moving it if it is there already)."""
        had = arm.key in self.index
        self.index.add(arm.key, venue=arm.venue, symbol=arm.symbol, source=arm.source, exit_side=arm.exit_side,
                       direction=arm.direction, trigger_price=arm.trigger_price)
        if not had:
            self._count((arm.venue, arm.symbol), 1)

    def disarm(self, key: LegKey) -> None:
        """Take a leg out of the trigger index (a no-op when it is not armed)."""
        bracket = self.brackets.get(key[0])
        if self.index.remove(key) and bracket is not None:
            self._count((bracket.venue, bracket.symbol), -1)

    def fired(self, venue: str, symbol: str, keys: Iterable[Hashable]) -> None:
        """Account for keys the index fired (and forgot) on a tick of (venue, symbol)."""
        for _ in keys:
            self._count((venue, symbol), -1)

    def _count(self, pair: tuple[str, str], delta: int) -> None:
        n = self._armed.get(pair, 0) + delta
        if n > 0:
            self._armed[pair] = n
            self.watched.add(pair)
        else:
            self._armed.pop(pair, None)
            self.watched.discard(pair)

    # --- housekeeping -----------------------------------------------------------------------------------

    def prune(self, ended_before_ms: int) -> int:
        """Forget brackets that ended before `ended_before_ms`. Return how many were forgotten."""
        doomed = [b for b in self.brackets.values() if b.is_terminal and b.updated_ts < ended_before_ms]
        for b in doomed:
            del self.brackets[b.bracket_id]
            self.strategy.pop(b.bracket_id, None)
            for oid in (b.entry.order_id, b.take_profit.order_id, b.stop_loss.order_id):
                if oid and self._by_oid.get((b.venue, oid)) == b.bracket_id:
                    del self._by_oid[(b.venue, oid)]
        return len(doomed)
