"""Placing a parent on the local engine: the engine's own checks, quantization, minimums, the schedule.

Part of the async shell (it reads the market service and the venue); the rules themselves are pure
(`validation`, `sizing`, `schedule`).
"""

from __future__ import annotations

from decimal import Decimal

import structlog

from gateway.core.enums import MarketType, Side
from gateway.core.errors import ErrorCode, GatewayError, OrderRejected, RequestError, VenueUnavailable
from gateway.core.instruments import Instrument
from gateway.core.ports import VenueAdapter
from gateway.market.service import MarketService
from gateway.orders.algo.config import AlgoSettings
from gateway.orders.algo.ids import is_valid_algo_id
from gateway.orders.algo.model import Algo, Algorithm
from gateway.orders.algo.schedule import (
    KlineVolume,
    even_schedule,
    profile_interval,
    slice_count,
    volume_profile,
    volume_schedule,
)
from gateway.orders.algo.sizing import SizeRules, min_qty_at
from gateway.orders.algo.validation import AlgoRequest, check_boost

__all__ = ["build_algo", "check_local", "reference_price", "same_request", "target_delta"]

log = structlog.get_logger("gateway.algos")

_INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}


async def build_algo(request: AlgoRequest, strategy: str | None, instrument: Instrument, rules: SizeRules,
                 reference: Decimal, side: Side, qty: Decimal | None, now: int, *, algo_id: str,
                     market: MarketService, settings: AlgoSettings) -> Algo:
    """Quantize the parent, check the venue minimums, make its schedule (VWAP: from recent klines).

    Raises:
        OrderRejected: PRECISION, MIN_NOTIONAL.
    """
    notional = request.notional
    if qty is not None:
        qty = instrument.round_qty(qty)
        if qty <= 0:
            raise OrderRejected(f"qty rounds to zero at step {instrument.step_size}", code=ErrorCode.PRECISION)
    minimum = min_qty_at(rules, reference)
    if qty is not None and qty < minimum:
        raise OrderRejected(f"qty {qty} is below the venue minimum {minimum} at {reference}",
                            code=ErrorCode.MIN_NOTIONAL, details={"qty": qty, "min_qty": minimum})
    min_amount = minimum if qty is not None else minimum * reference * rules.contract_size
    if notional is not None and notional < min_amount:
        raise OrderRejected(f"notional {notional} is below the venue minimum {min_amount}",
                            code=ErrorCode.MIN_NOTIONAL, details={"notional": notional, "min_notional": min_amount})
    target = qty if qty is not None else notional
    assert target is not None
    profile = "pov"
    schedule: tuple[Decimal, ...] = ()
    if request.algorithm is not Algorithm.POV:
        n = slice_count(request.duration_ms, settings.slice_ms, settings.max_slices, target, min_amount)
        schedule, profile = even_schedule(n), "even"
        if request.algorithm is Algorithm.VWAP:
            weights = await _volume_profile(market, settings, request, n)
            schedule, profile = ((volume_schedule(weights), "volume") if weights is not None
                                 else (schedule, "volume_fallback_even"))
    record = request.to_record()
    record["requested"] = [request.side.value, None if request.qty is None else str(request.qty),
                           None if request.notional is None else str(request.notional)]
    assert is_valid_algo_id(algo_id)
    return Algo(algo_id=algo_id, account=request.account, venue=request.account, symbol=instrument.symbol,
                side=side, algorithm=request.algorithm, qty=qty, notional=notional, start_ts=request.start_ms,
                end_ts=request.end_ms, created_ts=now, updated_ts=now, params=record, schedule=schedule,
                profile=profile, client_order_id=request.client_order_id, strategy=strategy)

async def _volume_profile(market: MarketService, settings: AlgoSettings, request: AlgoRequest, n: int) -> list[Decimal] | None:
    interval, interval_ms = profile_interval(request.duration_ms)
    try:
        klines = await market.klines(request.account, request.symbol, interval, settings.kline_limit)
    except GatewayError as exc:
        log.warning("algo.profile_unavailable", symbol=request.symbol, error=exc.message)
        return None
    volumes = [KlineVolume(int(k["open_ts"]), _INTERVAL_MS.get(k.get("interval", interval), interval_ms),
                           Decimal(k["volume"])) for k in klines]
    return volume_profile(volumes, request.start_ms, request.end_ms, n)

async def reference_price(market: MarketService, account: str, symbol: str, side: Side) -> Decimal:
    """The price a child would trade at now (the far touch), for the minimums and the slice count."""
    try:
        bbo = await market.bbo(account, symbol)
    except GatewayError as exc:
        raise VenueUnavailable(f"no price for {symbol}: {exc.message}", venue=account) from exc
    price = bbo.get("ask") if side is Side.BUY else bbo.get("bid")
    price = price or bbo.get("bid") or bbo.get("ask")
    if price is None:
        raise VenueUnavailable(f"no price for {symbol}: the book is empty", venue=account)
    return Decimal(price)

async def target_delta(adapter: VenueAdapter, instrument: Instrument, request: AlgoRequest
                       ) -> tuple[Side, Decimal]:
    """The trade that brings the position to the requested target: (side, qty)."""
    try:
        positions = await adapter.positions()
    except GatewayError as exc:
        raise VenueUnavailable(f"cannot read the position: {exc.message}", venue=adapter.name) from exc
    current = sum((p.qty for p in positions if p.symbol == instrument.symbol), Decimal(0))
    assert request.qty is not None
    delta = request.side.sign * request.qty - current
    if delta == 0:
        raise RequestError("the position is already at the target", details={"field": "qty"})
    return (Side.BUY, delta) if delta > 0 else (Side.SELL, -delta)

def check_local(request: AlgoRequest, adapter: VenueAdapter, instrument: Instrument) -> None:
    """The local engine's own refusals (beyond the seed's table).

    Raises:
        OrderRejected: NOT_SUPPORTED (Boost, spot margin, reduce_only where the venue has none).
        RequestError: INVALID_PARAMS (a margin type the perpetual does not have).
    """
    check_boost(request, adapter.kind, instrument.type, instrument.native)
    if request.algorithm.is_boost:
        raise OrderRejected(f"{request.algorithm} runs only on Quantum Execute, not on the local engine",
                            code=ErrorCode.NOT_SUPPORTED, details={"field": "algorithm"})
    if request.is_margin:
        raise OrderRejected("spot margin (is_margin) is not supported by the local engine",
                            code=ErrorCode.NOT_SUPPORTED, details={"field": "is_margin"})
    if instrument.type is MarketType.PERP:
        margined = "U" if (instrument.settle or instrument.quote) == instrument.quote else "C"
        if request.margin_type != margined:
            raise RequestError(f"{instrument.symbol} is {'USDT' if margined == 'U' else 'coin'}-margined: "
                               f"margin_type must be {margined}", details={"field": "margin_type"})
    if request.reduce_only and not adapter.capabilities.reduce_only:
        raise OrderRejected(f"reduce_only is not supported on {adapter.name}", code=ErrorCode.NOT_SUPPORTED,
                            details={"field": "reduce_only"})


def same_request(request: AlgoRequest, algo: Algo) -> bool:
    requested = [request.side.value, None if request.qty is None else str(request.qty),
                 None if request.notional is None else str(request.notional)]
    stored = algo.params.get("requested")
    same_amounts = stored is not None and stored[0] == requested[0] and all(
        (a is None and b is None) or (a is not None and b is not None and Decimal(a) == Decimal(b))
        for a, b in zip(stored[1:], requested[1:], strict=True))
    return (algo.account, algo.symbol, algo.algorithm) == (request.account, request.symbol, request.algorithm) \
        and same_amounts
