"""The OKX account views of the sim user: balance, positions, config, leverage. Pure.

Fact sheet §5 "Account". The dialect plays a Futures-mode account (``acctLv`` "2") in ``net_mode``;
both are settings, but only net mode is modelled (the engine keeps one signed position per perp).
USD equivalents use 1 for USDT/USDC/USD and the last price of ``<CCY>/USDT`` for other currencies.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.simserver.okx.instruments import OkxInstrument
from gateway.simserver.okx.orders_render import balance_detail, position_item
from gateway.simserver.okx.render import s
from gateway.venues.sim.matching import MatchingEngine

__all__ = ["balance_data", "config_data", "leverage_rows", "position_rows"]

_ZERO = Decimal(0)


def _usd_price(engine: MatchingEngine, ccy: str) -> Decimal | None:
    symbol = f"{ccy}/USDT"
    return engine.last_price(symbol) if symbol in engine.instruments else None


def balance_data(engine: MatchingEngine, user: str, by_symbol: dict[str, OkxInstrument], now_ms: int,
                 ccys: set[str] | None = None) -> dict[str, Any]:
    """``GET /api/v5/account/balance`` ``data[0]`` (and the ``account`` push item) for `ccys` (None: all)."""
    upl: dict[str, Decimal] = {}
    margin: dict[str, Decimal] = {}
    for position in engine.positions(user, now_ms):
        inst = by_symbol.get(position.symbol)
        if inst is None:
            continue
        ccy = inst.instrument.settle or inst.instrument.quote
        upl[ccy] = upl.get(ccy, _ZERO) + position.unrealized_pnl
        margin[ccy] = margin.get(ccy, _ZERO) + position.margin
    details, total, total_upl, frozen, imr = [], _ZERO, _ZERO, _ZERO, _ZERO
    for balance in engine.balances(user, now_ms):
        ccy = balance.asset
        price = Decimal(1) if ccy in ("USDT", "USDC", "USD") else _usd_price(engine, ccy)
        detail = balance_detail(balance, upl.get(ccy, _ZERO), margin.get(ccy, _ZERO), price)
        if price is not None:
            total += Decimal(detail["eqUsd"])
            total_upl += upl.get(ccy, _ZERO) * price
            frozen += Decimal(detail["ordFrozen"]) * price
            imr += margin.get(ccy, _ZERO) * price
        if ccys is None or ccy in ccys:
            details.append(detail)
    return {"totalEq": s(total), "adjEq": s(total), "isoEq": "0", "ordFroz": s(frozen), "imr": s(imr), "mmr": "0",
            "borrowFroz": "", "mgnRatio": "", "notionalUsd": "", "upl": s(total_upl), "uTime": str(now_ms),
            "details": details}


def position_rows(engine: MatchingEngine, user: str, by_symbol: dict[str, OkxInstrument], now_ms: int,
                  inst_id: str | None = None, include_flat: bool = False, long_short: bool = False
                  ) -> list[dict[str, Any]]:
    """``GET /api/v5/account/positions`` rows: the open positions (or `inst_id`'s)."""
    rows = []
    for position in engine.positions(user, now_ms):
        inst = by_symbol.get(position.symbol)
        if inst is None or (inst_id and inst.inst_id != inst_id) or (not position.qty and not include_flat):
            continue
        rows.append(position_item(position, inst, now_ms, long_short))
    return rows


def config_data(uid: str, acct_lv: str, pos_mode: str) -> dict[str, Any]:
    """``GET /api/v5/account/config`` ``data[0]``."""
    return {"uid": uid, "mainUid": uid, "acctLv": acct_lv, "acctStpMode": "cancel_maker", "posMode": pos_mode,
            "autoLoan": False, "greeksType": "PA", "level": "Lv1", "levelTmp": "", "ctIsoMode": "automatic",
            "mgnIsoMode": "automatic", "spotOffsetType": "", "roleType": "0", "traderInsts": [],
            "spotRoleType": "0", "spotTraderInsts": [], "opAuth": "0", "kycLv": "1", "label": "sim",
            "ip": "", "perm": "read_only,trade", "liquidationGear": "-1", "enableSpotBorrow": False,
            "spotBorrowAutoRepay": False, "type": "0", "settleCcy": "USDT", "settleCcyList": ["USDT"]}


def leverage_rows(engine: MatchingEngine, user: str, inst: OkxInstrument, mgn_mode: str) -> list[dict[str, Any]]:
    """``GET /api/v5/account/leverage-info`` rows of one instrument (net mode: one row)."""
    lever = engine.ledger.leverage_of(user, inst.symbol)
    return [{"instId": inst.inst_id, "ccy": "", "mgnMode": mgn_mode, "posSide": "net", "lever": str(lever)}]
