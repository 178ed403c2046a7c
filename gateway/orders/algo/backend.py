"""The algo backend contract: who executes `algo.*` for an account, and the router that picks one.

Two kinds of backend meet the same `AlgoBackend` protocol:
- the **local engine** (`service.LocalAlgoEngine`): TWAP / VWAP / POV run inside the gateway on any account
  (sim, Binance, OKX, ...), children placed through the order service;
- a **QE backend** (later): master orders executed by Quantum Execute on a `qe` account.

The API methods never know which one serves an account: `AlgoRouter.backend(account)` answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from gateway.core.errors import ErrorCode, OrderRejected

__all__ = ["AlgoBackend", "AlgoRouter"]


@runtime_checkable
class AlgoBackend(Protocol):
    """What executes algorithmic parent orders for some accounts. Results are the API's algo shape.

    Every method raises `GatewayError`s with the API's codes (INVALID_PARAMS, ORDER_NOT_FOUND,
    NOT_SUPPORTED, VENUE_UNAVAILABLE, ...).
    """

    name: str  # "local", "qe"

    def serves(self, account: str) -> bool:
        """Whether this backend executes parents for `account`."""
        ...

    async def place(self, strategy: str | None, account: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validate (the seed's rules and the backend's own), journal, start; idempotent on client_order_id."""
        ...

    async def cancel(self, account: str, algo_id: str | None, client_order_id: str | None = None,
                     reason: str | None = None) -> dict[str, Any]: ...

    async def pause(self, account: str, algo_id: str | None, client_order_id: str | None = None
                    ) -> dict[str, Any]: ...

    async def resume(self, account: str, algo_id: str | None, client_order_id: str | None = None
                     ) -> dict[str, Any]: ...

    async def get(self, account: str, algo_id: str | None, client_order_id: str | None = None
                  ) -> dict[str, Any]: ...

    async def list(self, account: str, *, open_only: bool = False, state: str | None = None,
                   limit: int = 500) -> list[dict[str, Any]]: ...

    async def fills(self, account: str, algo_id: str | None, client_order_id: str | None = None,
                    limit: int = 500) -> list[dict[str, Any]]:
        """The fills of the parent's child orders, oldest first."""
        ...

    async def exchange_apis(self, account: str) -> list[dict[str, Any]]:
        """QE only: the exchange accounts bound to the QE user (NOT_SUPPORTED elsewhere)."""
        ...

    async def trading_pairs(self, account: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """QE only: QE's trading pairs (NOT_SUPPORTED elsewhere)."""
        ...


class AlgoRouter:
    """Pick the backend of an account: the first in `backends` that serves it.

    Put specific backends (QE, which serves only `qe` accounts) before the local engine (which serves
    every other account).
    """

    def __init__(self, backends: Sequence[AlgoBackend]):
        self._backends = list(backends)

    def add(self, backend: AlgoBackend, first: bool = True) -> None:
        """Plug a backend in (a QE backend goes first: it claims its accounts before the local engine)."""
        if first:
            self._backends.insert(0, backend)
        else:
            self._backends.append(backend)

    @property
    def backends(self) -> list[AlgoBackend]:
        return list(self._backends)

    def backend(self, account: str) -> AlgoBackend:
        """Raises OrderRejected NOT_SUPPORTED when nothing executes algos for `account`."""
        for backend in self._backends:
            if backend.serves(account):
                return backend
        raise OrderRejected(f"no algo backend serves account {account!r}", code=ErrorCode.NOT_SUPPORTED,
                            details={"account": account})
