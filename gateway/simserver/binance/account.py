"""The Binance dialect's account operations: spot account, futures balances, positions, account, leverage
and margin type (fact sheet §2, §4), on the sim engine's ledger. See `trading` for the conventions."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gateway.core.enums import MarginType
from gateway.simserver.binance.rest import ApiError
from gateway.simserver.binance.trading import Ctx, Params, int_param, mandatory

if TYPE_CHECKING:
    from gateway.simserver.binance.server import BinanceDialect

__all__ = ["futures_account", "futures_balance", "leverage", "margin_type", "position_risk_v2",
           "position_risk_v3", "spot_account"]


async def spot_account(d: BinanceDialect, market: str, p: Params) -> Any:
    now = d.now_ms()
    omit = p.get("omitZeroBalances", "false").lower() == "true"
    balances = [{"asset": b.asset, "free": format(b.free, "f"), "locked": format(b.locked, "f")}
                for b in d.engine.balances(d.USER, now) if not omit or b.free or b.locked]
    return {"makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": False,
            "canDeposit": False, "updateTime": now, "accountType": "SPOT", "permissions": ["SPOT"], "uid": 1,
            "balances": balances}


async def futures_balance(d: BinanceDialect, market: str, p: Params) -> Any:
    now = d.now_ms()
    return [{"accountAlias": "SimUser", "asset": b.asset, "balance": format(b.free + b.locked, "f"),
             "crossWalletBalance": format(b.free + b.locked, "f"), "crossUnPnl": "0",
             "availableBalance": format(b.free, "f"), "maxWithdrawAmount": format(b.free, "f"),
             "marginAvailable": True, "updateTime": now} for b in d.engine.balances(d.USER, now)]


def _position_rows(d: BinanceDialect, all_symbols: bool) -> list[dict[str, Any]]:
    now, rows = d.now_ms(), []
    by_symbol = {p.symbol: p for p in d.engine.positions(d.USER, now)}
    for instrument in d.instruments_of("usdm"):
        pos = by_symbol.get(instrument.symbol)
        if pos is None and not all_symbols:
            continue
        ledger = d.engine.ledger
        qty = pos.qty if pos else Decimal(0)
        if not qty and not all_symbols:
            continue
        rows.append({"symbol": d.native_of(instrument.symbol), "positionSide": "BOTH", "positionAmt": format(qty, "f"),
                     "entryPrice": format(pos.entry_price if pos else Decimal(0), "f"),
                     "markPrice": format(pos.mark_price if pos else Decimal(0), "f"),
                     "unRealizedProfit": format(pos.unrealized_pnl if pos else Decimal(0), "f"),
                     "leverage": str(ledger.leverage_of(d.USER, instrument.symbol)),
                     "marginType": str(ledger.margin_type_of(d.USER, instrument.symbol)),
                     "isolatedMargin": format(_isolated(d, instrument.symbol), "f"),
                     "isolatedWallet": format(_isolated(d, instrument.symbol), "f"),
                     "liquidationPrice": "0", "updateTime": pos.ts if pos else 0})
    return rows


def _isolated(d: BinanceDialect, symbol: str) -> Decimal:
    # An isolated position's margin: its initial margin plus what positionMargin added (`margin`).
    if d.engine.ledger.margin_type_of(d.USER, symbol) is not MarginType.ISOLATED:
        return Decimal(0)
    return d.engine.ledger.position(d.USER, symbol).margin + d.isolated.of(symbol)


async def position_risk_v2(d: BinanceDialect, market: str, p: Params) -> Any:
    return _position_rows(d, all_symbols=True)


async def position_risk_v3(d: BinanceDialect, market: str, p: Params) -> Any:
    return [{k: v for k, v in row.items() if k not in ("leverage", "marginType")} for row in _position_rows(d, False)]


async def futures_account(d: BinanceDialect, market: str, p: Params) -> Any:
    assets = await futures_balance(d, market, p)
    return {"totalWalletBalance": "0", "assets": assets, "positions": _position_rows(d, False)}


async def leverage(d: BinanceDialect, market: str, p: Params) -> Any:
    c = Ctx(d, market)
    symbol = c.symbol(p)
    value = int_param(p, "leverage")
    if value is None:
        mandatory(p, "leverage")
    assert symbol is not None and value is not None
    if not 1 <= value <= 125:
        raise ApiError(400, -4028, "Leverage is not valid.")
    c.run(lambda now: d.engine.set_leverage(d.USER, symbol, value, now))
    return {"leverage": value, "maxNotionalValue": "1000000", "symbol": c.native(symbol)}


async def margin_type(d: BinanceDialect, market: str, p: Params) -> Any:
    c = Ctx(d, market)
    symbol = c.symbol(p)
    assert symbol is not None
    wanted = {"ISOLATED": MarginType.ISOLATED, "CROSSED": MarginType.CROSS}.get(mandatory(p, "marginType"))
    if wanted is None:
        raise ApiError(400, -1100, "Illegal characters found in parameter 'marginType'.")
    if d.engine.ledger.margin_type_of(d.USER, symbol) is wanted:
        raise ApiError(400, -4046, "No need to change margin type.")
    if d.engine.ledger.position(d.USER, symbol).qty:
        raise ApiError(400, -4048, "Margin type cannot be changed if there exists position.")
    c.run(lambda now: d.engine.set_margin_type(d.USER, symbol, wanted, now))
    return {"code": 200, "msg": "success"}
