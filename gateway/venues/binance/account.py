"""The account calls of a Binance session: balances, positions, leverage, margin type, isolated position
margin, and raw calls (fact sheet §2, §4). A mixin of `execution.BinanceExecution`, whose helpers
(``_call``, ``_write_outcome``, ``native``, ``unified``) and state (``leverage``) it uses; it exists so each
module stays one concern of a readable size.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gateway.core.enums import MarginType
from gateway.core.errors import ErrorCode, GatewayError, VenueRejected
from gateway.core.events import Balance, Position
from gateway.venues.binance.trading import is_public, order_count
from gateway.venues.binance.user_parse import futures_balances, position_of
from gateway.venues.binance.user_schemas import FuturesBalance, PositionRisk, decode

if TYPE_CHECKING:
    from gateway.venues.binance.execution import BinanceExecution

__all__ = ["AccountCalls"]

NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046


class AccountCalls:
    """Account calls (see the module docstring); mixed into `BinanceExecution`."""

    async def balances(self: BinanceExecution) -> list[Balance]:
        if self._usdm:
            rows = await self._call("GET", f"/fapi/{self._settings.balance_version}/balance", [])
            return futures_balances([decode(FuturesBalance, r) for r in rows], self.venue)
        data = await self._call("GET", "/api/v3/account", [("omitZeroBalances", "true")])
        ts = int(data.get("updateTime") or 0)
        return [Balance(self.venue, b["asset"], Decimal(b["free"]), Decimal(b["locked"]), ts)
                for b in data.get("balances", [])]

    async def positions(self: BinanceExecution) -> list[Position]:
        if not self._usdm:
            return []
        rows = await self._call("GET", f"/fapi/{self._settings.position_risk_version}/positionRisk", [])
        found = []
        for row in rows:
            risk = decode(PositionRisk, row)
            unified = self.unified(risk.symbol)
            if unified is None or risk.positionSide not in ("BOTH", ""):
                continue
            if int(risk.leverage or 0):
                self.leverage[unified] = int(risk.leverage)
            if Decimal(risk.positionAmt):
                found.append(position_of(risk, self.venue, unified, self.leverage.get(unified, 0)))
        return found

    async def set_leverage(self: BinanceExecution, symbol: str, leverage: int) -> dict[str, object]:
        self._futures_only("set_leverage")
        data = await self._call("POST", "/fapi/v1/leverage", [("symbol", self.native(symbol)),
                                                              ("leverage", leverage)])
        self.leverage[symbol] = int(data.get("leverage", leverage))
        return {"symbol": symbol, "leverage": self.leverage[symbol], "max_notional": data.get("maxNotionalValue")}

    async def set_margin_type(self: BinanceExecution, symbol: str, margin_type: MarginType) -> dict[str, object]:
        self._futures_only("set_margin_type")
        wire = "ISOLATED" if margin_type is MarginType.ISOLATED else "CROSSED"
        try:
            await self._call("POST", "/fapi/v1/marginType", [("symbol", self.native(symbol)), ("marginType", wire)])
        except VenueRejected as exc:
            if exc.venue_code != NO_NEED_TO_CHANGE_MARGIN_TYPE:  # already so: success
                raise
        return {"symbol": symbol, "margin_type": str(margin_type)}

    async def raw_request(self: BinanceExecution, http_method: str, path: str, params: dict[str, Any]) -> Any:
        """Forward a call to Binance's own API (signed unless `path` is a public endpoint)."""
        method = http_method.upper()
        if not path.startswith(("/api/", "/fapi/")):
            raise GatewayError(f"not a Binance API path: {path!r}", code=ErrorCode.INVALID_PARAMS)
        public = is_public(path)
        listen_key = path.endswith(("/listenKey", "/userDataStream"))
        with self._write_outcome(method):
            return await self._rest.call(method, path, params, weight=self._weight(method, path),
                                         signed=not (public or listen_key), api_key_only=listen_key,
                                         orders=order_count(self.market, method, path))

    async def adjust_position_margin(self: BinanceExecution, symbol: str, amount: Decimal,
                                     add: bool) -> dict[str, object]:
        """Add margin to (or take it from) an isolated position (``POST /fapi/v1/positionMargin``).

        Raises:
            VenueRejected: Binance refused it (e.g. -4049 not isolated, -4054 no position, -4051 too much).
        """
        self._futures_only("adjust_position_margin")
        if amount <= 0:
            raise GatewayError("amount must be > 0", code=ErrorCode.INVALID_PARAMS, details={"field": "amount"})
        with self._write_outcome():
            data = await self._call("POST", "/fapi/v1/positionMargin", [
                ("symbol", self.native(symbol)), ("amount", amount), ("type", 1 if add else 2)])
        return {"symbol": symbol, "amount": str(amount), "added": add, "venue_code": data.get("code"),
                "venue_message": data.get("msg")}
