"""Account calls of an OKX session: account mode, balances, positions, leverage, margin mode, raw calls.

Fact sheet §5: ``/account/config`` (acctLv, posMode) is read once at start and decides how ``tdMode`` and
``posSide`` are sent; OKX picks the margin mode per order, so `set_margin_type` only remembers it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.core.enums import MarginType
from gateway.core.errors import (
    ErrorCode,
    GatewayError,
)
from gateway.core.events import Balance, Position
from gateway.venues.okx.calls import OkxCalls
from gateway.venues.okx.trading import (
    AccountMode,
    resolve_td_mode,
)
from gateway.venues.okx.user_parse import (
    to_balances,
    to_position,
)

__all__ = ["AccountCalls"]


class AccountCalls(OkxCalls):
    """The account concern of `OkxExecution`."""

    async def load_account_mode(self) -> AccountMode:
        """Read ``/account/config`` (acctLv, posMode) once at start; it decides tdMode and posSide."""
        envelope = await self._rest.call("GET", "/api/v5/account/config", signed=True)
        row = envelope.data[0] if envelope.data and isinstance(envelope.data[0], dict) else {}
        self.mode = AccountMode(str(row.get("acctLv") or "1"), str(row.get("posMode") or "net_mode"))
        if row.get("uid"):
            self._rest.user_scope = str(row["uid"])
        return self.mode

    def td_mode(self, symbol: str) -> str:
        return self.td_modes.get(symbol) or resolve_td_mode(self._settings.td_mode, self.market, self.mode)

    async def balances(self) -> list[Balance]:
        envelope = await self._rest.call("GET", "/api/v5/account/balance", signed=True)
        found: list[Balance] = []
        for row in envelope.data:
            if isinstance(row, dict):
                found += to_balances(row, self.venue)
        return found

    async def positions(self) -> list[Position]:
        if self.market != "swap":
            return []
        envelope = await self._rest.call("GET", "/api/v5/account/positions", {"instType": "SWAP"}, signed=True)
        found = []
        for row in envelope.data:
            symbol = self.unified(str(row.get("instId"))) if isinstance(row, dict) else None
            if symbol is None:
                continue
            position = to_position(row, self.venue, symbol)
            if position.leverage:
                self.leverage[symbol] = position.leverage
            if position.qty:
                found.append(position)
        return found

    async def set_leverage(self, symbol: str, leverage: int) -> dict[str, object]:
        self._swap_only("set_leverage")
        mgn_mode = "isolated" if self.td_mode(symbol) == "isolated" else "cross"
        envelope = await self._rest.call("POST", "/api/v5/account/set-leverage",
                                         body={"instId": self.native(symbol), "lever": str(leverage),
                                               "mgnMode": mgn_mode}, signed=True, write=True)
        row = envelope.data[0] if envelope.data and isinstance(envelope.data[0], dict) else {}
        self.leverage[symbol] = int(Decimal(str(row.get("lever") or leverage)))
        return {"symbol": symbol, "leverage": self.leverage[symbol], "margin_mode": mgn_mode}

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> dict[str, object]:
        """OKX picks the margin mode per order (``tdMode``): remember it for the orders of `symbol`."""
        self._swap_only("set_margin_type")
        self.native(symbol)
        self.td_modes[symbol] = "isolated" if margin_type is MarginType.ISOLATED else "cross"
        return {"symbol": symbol, "margin_type": str(margin_type), "td_mode": self.td_modes[symbol]}

    async def raw_request(self, http_method: str, path: str, params: dict[str, Any]) -> Any:
        """Forward a call to OKX's own v5 API (signed unless public); return its whole envelope."""
        method = http_method.upper()
        if not path.startswith("/api/v5/"):
            raise GatewayError(f"not an OKX v5 path: {path!r}", code=ErrorCode.INVALID_PARAMS)
        public = path.startswith(("/api/v5/public/", "/api/v5/market/"))
        if method == "GET":
            envelope = await self._rest.call(method, path, params, signed=not public)
        else:
            envelope = await self._rest.call(method, path, body=params, signed=not public, write=True)
        return {"code": envelope.code, "msg": envelope.msg, "data": envelope.data}
