"""Validation of an algo request against the rules of QE's master-order parameter table. Pure.

The rules (each raises `RequestError` INVALID_PARAMS with `details.field`, unless stated):
- `algorithm`: TWAP, VWAP, POV, BoostTWAP, BoostVWAP (any letter case).
- Exactly one of `qty` (QE totalQuantity) and `notional` (orderNotional), each > 0.
- `is_target_position`: needs `qty`, forbids `notional`, perpetuals only.
- Timing: `start_time` (epoch ms or ISO 8601 with an offset; absent: now), and exactly one of
  `execution_duration_s` (seconds, > the backend's minimum: QE says > 10), `execution_duration` (minutes,
  >= 1; seconds win when both are given) and `end_time` (after the start).
- `must_complete`, `strict_up_bound`, `tail_order_protection`, `enable_make`, `reduce_only`, `is_margin`: booleans.
- `maker_rate_limit`: -1 (the engine decides) or 0..1.
- `pov_limit`: TWAP/VWAP 0..1 (default 0.8); POV > 0 and <= 0.5 (default 0.05).
- `pov_min_limit` (POV only): >= 0 and `pov_min_limit < max(pov_limit - 0.01, 0)`.
- `limit_price` / `worst_price` (one name, QE V1 / V2): -1 (no limit) or > 0.
- `up_tolerance`, `low_tolerance`: -1 (no tolerance) or strictly between 0 and 1.
- `margin_type`: required for perpetuals (U or C), refused on spot.
- `is_margin`: spot only; `reduce_only`: perpetuals only.
- Boost algorithms: only Binance USDT-margined perpetual BTCUSDT / ETHUSDT (`boost_allowed`); elsewhere
  OrderRejected NOT_SUPPORTED.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from gateway.core.enums import MarketType, Side
from gateway.core.errors import ErrorCode, OrderRejected, RequestError
from gateway.orders.algo.model import Algorithm

__all__ = [
    "BOOST_SYMBOLS",
    "DEFAULT_POV_LIMIT",
    "NO_LIMIT",
    "AlgoRequest",
    "boost_allowed",
    "check_boost",
    "parse_time_ms",
    "validate_request",
]

NO_LIMIT: Final = Decimal(-1)  # QE's "unset" value of limit_price, tolerances and maker_rate_limit
DEFAULT_POV_LIMIT: Final = {Algorithm.POV: Decimal("0.05")}  # QE V2 SDK default; TWAP/VWAP: 0.8 (QE V1 table)
_TWAP_POV_LIMIT: Final = Decimal("0.8")
_POV_MAX: Final = Decimal("0.5")
_POV_GAP: Final = Decimal("0.01")
BOOST_SYMBOLS: Final = frozenset({"BTCUSDT", "ETHUSDT"})  # Binance perpetuals (QE README note)
_MARGIN_TYPES: Final = frozenset({"U", "C"})
_MAX_NOTES: Final = 256


@dataclass(frozen=True, slots=True)
class AlgoRequest:
    """A validated algo request, venue-agnostic (the local engine and a QE backend both take it)."""

    account: str
    symbol: str
    side: Side
    algorithm: Algorithm
    qty: Decimal | None
    notional: Decimal | None
    start_ms: int
    end_ms: int
    is_target_position: bool = False
    must_complete: bool = True
    maker_rate_limit: Decimal = NO_LIMIT
    pov_limit: Decimal = _TWAP_POV_LIMIT
    pov_min_limit: Decimal | None = None
    limit_price: Decimal = NO_LIMIT
    up_tolerance: Decimal = NO_LIMIT
    low_tolerance: Decimal = NO_LIMIT
    strict_up_bound: bool = False
    tail_order_protection: bool = True
    enable_make: bool = True
    reduce_only: bool = False
    margin_type: str | None = None
    is_margin: bool = False
    notes: str | None = None
    client_order_id: str | None = None

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    @property
    def has_limit_price(self) -> bool:
        return self.limit_price > 0

    def to_record(self) -> dict[str, Any]:
        """The parameters as JSON-ready values (Decimals as strings), as the algo keeps them."""
        out = {}
        for key, value in asdict(self).items():
            if key in ("account", "symbol", "side", "algorithm", "qty", "notional", "start_ms", "end_ms"):
                continue  # kept on the algo itself
            out[key] = str(value) if isinstance(value, Decimal) else value
        return out


def boost_allowed(exchange_kind: str, market_type: MarketType, native_symbol: str) -> bool:
    """Return whether QE runs a Boost algorithm there: Binance USDT-margined perpetual BTCUSDT / ETHUSDT."""
    return (exchange_kind == "binance" and market_type is MarketType.PERP
            and native_symbol.upper().replace("_PERP", "") in BOOST_SYMBOLS)


def parse_time_ms(value: Any, field: str) -> int:
    """Return epoch ms from an int (epoch ms) or an ISO 8601 string with a UTC offset.

    Raises:
        RequestError: INVALID_PARAMS.
    """
    if isinstance(value, bool):
        raise _bad(field, f"{field} must be epoch ms or an ISO 8601 time")
    if isinstance(value, int):
        if value < 0:
            raise _bad(field, f"{field} must be >= 0")
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _bad(field, f"{field} is not an ISO 8601 time (e.g. 2025-09-03T01:30:00+08:00)") from None
        if parsed.tzinfo is None:
            raise _bad(field, f"{field} needs a UTC offset (e.g. +08:00 or Z)")
        return int(parsed.timestamp() * 1000)
    raise _bad(field, f"{field} must be epoch ms or an ISO 8601 time")


def validate_request(p: Mapping[str, Any], *, account: str, symbol: str, market_type: MarketType, now_ms: int,
                     min_duration_s: int = 10) -> AlgoRequest:
    """Check `p` (the API params, decimals as Decimal or str) and return the typed request.

    `symbol` is the resolved unified symbol, `market_type` its market; `min_duration_s` the backend's
    minimum horizon (`execution_duration_s` must exceed it).

    Raises:
        RequestError: INVALID_PARAMS naming the field (see the module docstring for every rule).
    """
    algorithm = Algorithm.parse(str(p.get("algorithm") or ""))
    if algorithm is None:
        raise _bad("algorithm", "algorithm must be one of " + ", ".join(a.value for a in Algorithm))
    side_value = p.get("side")
    if side_value not in ("buy", "sell"):
        raise _bad("side", "side must be buy or sell")
    side = Side(side_value)
    perp = market_type is MarketType.PERP

    qty, notional = _decimal(p, "qty"), _decimal(p, "notional")
    if (qty is None) == (notional is None):
        raise _bad("qty", "give exactly one of qty (total quantity) and notional (order notional)")
    for name, value in (("qty", qty), ("notional", notional)):
        if value is not None and value <= 0:
            raise _bad(name, f"{name} must be > 0")
    target_position = _bool(p, "is_target_position", False)
    if target_position:
        if notional is not None:
            raise _bad("notional", "is_target_position takes qty (the target position), not notional")
        if not perp:
            raise _bad("is_target_position", "is_target_position applies to perpetuals only")

    start_ms, end_ms = _horizon(p, now_ms, min_duration_s)

    maker_rate_limit = _decimal(p, "maker_rate_limit")
    if maker_rate_limit is None:
        maker_rate_limit = NO_LIMIT
    elif maker_rate_limit != NO_LIMIT and not 0 <= maker_rate_limit <= 1:
        raise _bad("maker_rate_limit", "maker_rate_limit must be -1 (the engine decides) or between 0 and 1")

    pov_limit = _decimal(p, "pov_limit")
    pov_min = _decimal(p, "pov_min_limit")
    if algorithm is Algorithm.POV:
        if pov_limit is None:
            pov_limit = DEFAULT_POV_LIMIT[Algorithm.POV]
        if not 0 < pov_limit <= _POV_MAX:
            raise _bad("pov_limit", "pov_limit of a POV order must be > 0 and <= 0.5")
        if pov_min is not None:
            if pov_min < 0:
                raise _bad("pov_min_limit", "pov_min_limit must be >= 0")
            if not pov_min < max(pov_limit - _POV_GAP, Decimal(0)):
                raise _bad("pov_min_limit", "pov_min_limit must be < max(pov_limit - 0.01, 0)")
    else:
        if pov_limit is None:
            pov_limit = _TWAP_POV_LIMIT
        if not 0 <= pov_limit <= 1:
            raise _bad("pov_limit", "pov_limit must be between 0 and 1")
        if pov_min is not None:
            raise _bad("pov_min_limit", "pov_min_limit applies to POV orders only")

    limit_price = _decimal(p, "limit_price")
    worst_price = _decimal(p, "worst_price")
    if limit_price is not None and worst_price is not None:
        raise _bad("worst_price", "give one of limit_price and worst_price (the same thing)")
    price = limit_price if limit_price is not None else worst_price
    price_field = "limit_price" if limit_price is not None else "worst_price"
    if price is None:
        price = NO_LIMIT
    elif price != NO_LIMIT and price <= 0:
        raise _bad(price_field, f"{price_field} must be -1 (no limit) or > 0")

    tolerances = {}
    for name in ("up_tolerance", "low_tolerance"):
        value = _decimal(p, name)
        if value is None:
            value = NO_LIMIT
        elif value != NO_LIMIT and not 0 < value < 1:
            raise _bad(name, f"{name} must be -1 (no tolerance) or strictly between 0 and 1")
        tolerances[name] = value

    margin_type = p.get("margin_type")
    if margin_type is not None:
        margin_type = str(margin_type).upper()
    if perp:
        if margin_type is None:
            raise _bad("margin_type", "margin_type is required for perpetuals (U: USDT-margined, C: coin-margined)")
        if margin_type not in _MARGIN_TYPES:
            raise _bad("margin_type", "margin_type must be U or C")
    elif margin_type is not None:
        raise _bad("margin_type", "margin_type applies to perpetuals only")
    is_margin = _bool(p, "is_margin", False)
    if is_margin and perp:
        raise _bad("is_margin", "is_margin (spot margin) applies to spot only")
    reduce_only = _bool(p, "reduce_only", False)
    if reduce_only and not perp:
        raise _bad("reduce_only", "reduce_only applies to perpetuals only")

    notes = p.get("notes")
    if notes is not None and (not isinstance(notes, str) or len(notes) > _MAX_NOTES):
        raise _bad("notes", f"notes must be a string of at most {_MAX_NOTES} characters")
    client_order_id = p.get("client_order_id")
    if client_order_id is not None and not isinstance(client_order_id, str):
        raise _bad("client_order_id", "client_order_id must be a string")

    return AlgoRequest(
        account=account, symbol=symbol, side=side, algorithm=algorithm, qty=qty, notional=notional,
        start_ms=start_ms, end_ms=end_ms, is_target_position=target_position,
        must_complete=_bool(p, "must_complete", True), maker_rate_limit=maker_rate_limit, pov_limit=pov_limit,
        pov_min_limit=pov_min, limit_price=price, up_tolerance=tolerances["up_tolerance"],
        low_tolerance=tolerances["low_tolerance"], strict_up_bound=_bool(p, "strict_up_bound", False),
        tail_order_protection=_bool(p, "tail_order_protection", True), enable_make=_bool(p, "enable_make", True),
        reduce_only=reduce_only, margin_type=margin_type, is_margin=is_margin, notes=notes,
        client_order_id=client_order_id or None,
    )


def check_boost(request: AlgoRequest, exchange_kind: str, market_type: MarketType, native_symbol: str) -> None:
    """Refuse a Boost algorithm where QE does not run it.

    Raises:
        OrderRejected: NOT_SUPPORTED.
    """
    if request.algorithm.is_boost and not boost_allowed(exchange_kind, market_type, native_symbol):
        raise OrderRejected(f"{request.algorithm} runs only on Binance perpetual BTCUSDT / ETHUSDT through QE",
                            code=ErrorCode.NOT_SUPPORTED, details={"field": "algorithm"})


# --- helpers -----------------------------------------------------------------------------------------------


def _horizon(p: Mapping[str, Any], now_ms: int, min_duration_s: int) -> tuple[int, int]:
    start_raw = p.get("start_time")
    start = now_ms if start_raw is None else max(parse_time_ms(start_raw, "start_time"), now_ms)
    seconds, minutes, end_raw = p.get("execution_duration_s"), p.get("execution_duration"), p.get("end_time")
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise _bad("execution_duration_s", "execution_duration_s must be an integer number of seconds")
        if seconds <= min_duration_s:
            raise _bad("execution_duration_s", f"execution_duration_s must be > {min_duration_s}")
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise _bad("execution_duration", "execution_duration must be an integer number of minutes")
        if minutes < 1:
            raise _bad("execution_duration", "execution_duration (minutes) must be >= 1")
    if end_raw is not None:
        if seconds is not None or minutes is not None:
            raise _bad("end_time", "give one of execution_duration_s, execution_duration and end_time")
        end = parse_time_ms(end_raw, "end_time")
        if end <= start:
            raise _bad("end_time", "end_time must be after the start")
        if end - start <= min_duration_s * 1000:
            raise _bad("end_time", f"the horizon (end_time - start) must be > {min_duration_s} s")
        return start, end
    if seconds is not None:
        return start, start + seconds * 1000
    if minutes is not None:
        return start, start + minutes * 60_000
    raise _bad("execution_duration_s", "give execution_duration_s (seconds), execution_duration (minutes) "
                                       "or end_time")


def _decimal(p: Mapping[str, Any], name: str) -> Decimal | None:
    value = p.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _bad(name, f"{name} must be a decimal string")
    if isinstance(value, float):
        value = repr(value)
    try:
        result = value if isinstance(value, Decimal) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise _bad(name, f"{name} must be a decimal string") from None
    if not result.is_finite():
        raise _bad(name, f"{name} must be finite")
    return result


def _bool(p: Mapping[str, Any], name: str, default: bool) -> bool:
    value = p.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(name, f"{name} must be a boolean")
    return value


def _bad(field: str, message: str) -> RequestError:
    return RequestError(message, code=ErrorCode.INVALID_PARAMS, details={"field": field})
