"""The Binance dialect's isolated position margin: ``POST /fapi/v1/positionMargin`` (fact sheet §4).

The sim ledger keeps a position's initial margin (``|qty| * entry / leverage``) in ``locked`` and treats
cross and isolated alike. Binance lets an isolated position take extra margin from the wallet and give
it back; the dialect books that extra here, per symbol, by moving it between ``free`` and ``locked`` of
the settle asset (so the ledger's conservation sums hold), and reports it in positionRisk
``isolatedMargin`` / ``isolatedWallet``. When the position closes, what was added goes back to ``free``
(`release_flat`, called after every engine call).

Rules, as Binance answers them (codes unverified against the UM error page: see docs/venues/binance.md):
isolated only (-4049), a position must exist (-4054), ``amount`` > 0 (-4055), adding needs that much free
balance (-4050), reducing cannot take more than was added (-4051: the initial margin stays).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gateway.core.enums import MarginType
from gateway.simserver.binance.rest import ApiError
from gateway.simserver.binance.trading import Ctx, Params, decimal_param, mandatory
from gateway.venues.sim.accounts import settle_asset

if TYPE_CHECKING:
    from gateway.simserver.binance.server import BinanceDialect

__all__ = ["IsolatedMargin", "position_margin"]

# The ACCOUNT_UPDATE reason of a margin move between the wallet and an isolated position (fact sheet §4.1
# lists MARGIN_TRANSFER; that it is the one Binance sends for positionMargin is unverified).
MARGIN_UPDATE_REASON = "MARGIN_TRANSFER"

_ZERO = Decimal(0)


class IsolatedMargin:
    """Margin added to isolated positions, by unified symbol."""

    def __init__(self) -> None:
        self.added: dict[str, Decimal] = {}

    def of(self, symbol: str) -> Decimal:
        return self.added.get(symbol, _ZERO)

    def release_flat(self, d: BinanceDialect) -> None:
        """Give back the added margin of every position that is now flat."""
        for symbol, amount in list(self.added.items()):
            if d.engine.ledger.position(d.USER, symbol).qty:
                continue
            balance = d.engine.ledger.balance(d.USER, settle_asset(d.engine.instruments[symbol]))
            balance.locked -= amount
            balance.free += amount
            del self.added[symbol]


async def position_margin(d: BinanceDialect, market: str, p: Params) -> Any:
    """``POST /fapi/v1/positionMargin``: ``symbol``, ``amount``, ``type`` (1 add, 2 reduce), ``positionSide``."""
    c = Ctx(d, market)
    symbol = c.symbol(p)
    assert symbol is not None
    amount = decimal_param(p, "amount")
    kind = mandatory(p, "type")
    if kind not in ("1", "2"):
        raise ApiError(400, -1100, "Illegal characters found in parameter 'type'.")
    if p.get("positionSide", "BOTH") != "BOTH":  # the sim account is in one-way mode
        raise ApiError(400, -4061, "Order's position side does not match user's setting.")
    assert amount is not None
    ledger = d.engine.ledger
    if ledger.margin_type_of(d.USER, symbol) is not MarginType.ISOLATED:
        raise ApiError(400, -4049, "Add margin only support for isolated position.")
    if not ledger.position(d.USER, symbol).qty:
        raise ApiError(400, -4054, "Cannot add position margin: position is 0.")
    if amount <= 0:
        raise ApiError(400, -4055, "Amount must be positive.")
    balance = ledger.balance(d.USER, settle_asset(d.engine.instruments[symbol]))
    margins: IsolatedMargin = d.isolated
    if kind == "1":
        if amount > balance.free:
            raise ApiError(400, -4050, "Cross balance insufficient.")
        balance.free -= amount
        balance.locked += amount
        margins.added[symbol] = margins.of(symbol) + amount
    else:
        if amount > margins.of(symbol):
            raise ApiError(400, -4051, "Isolated balance insufficient.")
        balance.locked -= amount
        balance.free += amount
        margins.added[symbol] = margins.of(symbol) - amount
    d.user_hub.publish("usdm", _margin_update(d, symbol))
    return {"amount": float(amount), "code": 200, "msg": "Successfully modify position margin.", "type": int(kind)}


def _margin_update(d: BinanceDialect, symbol: str) -> dict[str, Any]:
    # What the user stream pushes after a position-margin change: the settle asset's wallet (unchanged:
    # the margin only moves inside it) with the cross wallet net of every isolated margin, and the
    # position with its new isolated wallet ``iw``.
    now, ledger = d.now_ms(), d.engine.ledger
    asset = settle_asset(d.engine.instruments[symbol])
    balance = ledger.balance(d.USER, asset)
    wallet = balance.free + balance.locked
    isolated = {s: _isolated_wallet(d, s) for s in d.engine.instruments if d.market_of_symbol(s) == "usdm"}
    position = ledger.position(d.USER, symbol)
    return {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {
        "m": MARGIN_UPDATE_REASON,
        "B": [{"a": asset, "wb": format(wallet, "f"), "cw": format(wallet - sum(isolated.values(), _ZERO), "f"),
               "bc": "0"}],
        "P": [{"s": d.native_of(symbol), "pa": format(position.qty, "f"), "ep": format(position.entry_price, "f"),
               "bep": format(position.entry_price, "f"), "cr": format(position.realized_pnl, "f"),
               "up": format(position.unrealized_pnl, "f"), "mt": "isolated", "iw": format(isolated[symbol], "f"),
               "ps": "BOTH"}]}}


def _isolated_wallet(d: BinanceDialect, symbol: str) -> Decimal:
    # An isolated position's margin: its initial margin plus what was added here (as positionRisk shows it).
    ledger = d.engine.ledger
    if ledger.margin_type_of(d.USER, symbol) is not MarginType.ISOLATED or not ledger.position(d.USER, symbol).qty:
        return _ZERO
    return ledger.position(d.USER, symbol).margin + d.isolated.of(symbol)
