"""The V2 create-master-order body of a `ParentSpec`, and the public shapes of QE's lists. Pure.

Fact sheet §6.2: lowerCamelCase keys; decimals as **strings** (what is signed is the JSON literal sent);
``executionDurationSeconds`` an int > 10; ``startTimeMs`` epoch ms; ``limitPrice`` is refused by V2, so
the limit goes as ``worstPrice``. QE's "unset" value -1 (tolerances, maker rate, worst price) is left out
rather than sent: QE's default is the same, and fewer fields mean fewer unverified interpretations.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Final

from gateway.core.algo_ports import ParentSpec
from gateway.venues.qe.schemas import pick

__all__ = ["OPTION_FIELDS", "exchange_api_public", "option_decimal", "to_create_body", "trading_pairs_public"]

_UNSET: Final = Decimal(-1)

# option name (the gateway's, snake_case) -> (V2 field, kind)
OPTION_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "limit_price": ("worstPrice", "decimal"),
    "maker_rate_limit": ("makerRateLimit", "decimal"),
    "pov_limit": ("povLimit", "decimal"),
    "pov_min_limit": ("povMinLimit", "decimal"),
    "up_tolerance": ("upTolerance", "decimal"),
    "low_tolerance": ("lowTolerance", "decimal"),
    "must_complete": ("mustComplete", "bool"),
    "strict_up_bound": ("strictUpBound", "bool"),
    "tail_order_protection": ("tailOrderProtection", "bool"),
    "enable_make": ("enableMake", "bool"),
    "is_target_position": ("isTargetPosition", "bool"),
    "reduce_only": ("reduceOnly", "bool"),
    "is_margin": ("isMargin", "bool"),
    "margin_type": ("marginType", "text"),
    "notes": ("notes", "text"),
}


def decimal_text(value: Decimal, quantum: Decimal | None = None) -> str:
    """A decimal as QE's string: rounded down to `quantum` if given, no exponent, no trailing zeros."""
    if quantum is not None:
        value = value.quantize(quantum, rounding=ROUND_FLOOR)
    text = format(value.normalize(), "f")
    return text


def option_decimal(name: str, value: Any) -> Decimal | None:
    """Return a decimal option's value, or None for QE's "unset" -1 (left out of the body).

    Raises:
        ValueError: not a number, NaN or infinite, ``limit_price`` not > 0, or another option negative
            (0 is meaningful for the tolerances and limits, e.g. ``povMinLimit``; -1 means unset).
    """
    if isinstance(value, bool):
        raise ValueError(f"option {name} must be a number, not {value!r}")  # noqa: TRY004 - callers map ValueError to a rejection
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except ArithmeticError:  # decimal.InvalidOperation
        raise ValueError(f"option {name} must be a number, not {str(value)[:50]!r}") from None
    if not number.is_finite():
        raise ValueError(f"option {name} must be a finite number, not {number}")
    if number == _UNSET:
        return None
    if name == "limit_price" and number <= 0:
        raise ValueError(f"option limit_price must be > 0 (or -1: unset), not {number}")
    if number < 0:
        raise ValueError(f"option {name} must be >= 0 (or -1: unset), not {number}")
    return number


def to_create_body(spec: ParentSpec, quantum: Decimal | None = None) -> dict[str, Any]:
    """Return the V2 JSON body of `spec` (amounts rounded down to `quantum`).

    Raises:
        ValueError: both or neither of qty and notional, an amount that is not finite or rounds to zero, or
            a decimal option that `option_decimal` refuses.
    """
    if (spec.qty is None) == (spec.notional is None):
        raise ValueError("exactly one of qty and notional")
    body: dict[str, Any] = {
        "apiKeyId": spec.api_key_id,
        "exchange": spec.exchange,
        "marketType": spec.market_type,
        "symbol": spec.symbol,
        "side": spec.side,
        "algorithm": spec.algorithm,
        "executionDurationSeconds": spec.duration_s,
    }
    amount_field, amount = ("totalQuantity", spec.qty) if spec.qty is not None else ("orderNotional", spec.notional)
    assert amount is not None
    if isinstance(amount, Decimal) and not amount.is_finite():
        raise ValueError(f"{amount_field} must be a finite number, not {amount!r}")
    text = decimal_text(amount, quantum)
    if Decimal(text) <= 0:
        raise ValueError(f"{amount_field} rounds to zero at {quantum}")
    body[amount_field] = text
    if spec.start_ms is not None:
        body["startTimeMs"] = spec.start_ms
    if spec.client_order_id is not None:
        body["clientOrderId"] = spec.client_order_id
    for name, value in spec.options.items():
        if value is None or name not in OPTION_FIELDS:
            continue
        wire, kind = OPTION_FIELDS[name]
        if kind == "decimal":
            number = option_decimal(name, value)
            if number is None:
                continue
            body[wire] = decimal_text(number)
        elif kind == "bool":
            body[wire] = bool(value)
        else:
            body[wire] = str(value)
    return body


def exchange_api_public(record: Mapping[str, Any]) -> dict[str, Any]:
    """One bound exchange account (ExchangeApiV2Info, §6.3) in the strategy API's snake_case."""
    return {
        "api_key_id": pick(record, "apiKeyId", "apiKeyUuid", "id"),
        "account_name": record.get("accountName"),
        "exchange": record.get("exchange"),
        "api_key": record.get("apiKey"),  # QE masks it
        "status": record.get("status"),
        "is_valid": record.get("isValid"),
        "is_trading_enabled": record.get("isTradingEnabled"),
        "is_default": record.get("isDefault"),
        "is_pm": record.get("isPm"),
        "created_at": record.get("createdAt"),
    }


def trading_pairs_public(payload: Any) -> dict[str, Any]:
    """QE's trading pairs page in the strategy API's snake_case (§5: items, page, pageSize, total)."""
    data = payload if isinstance(payload, dict) else {"items": payload if isinstance(payload, list) else []}
    items = [
        {"id": r.get("id"), "symbol": r.get("symbol"), "base_asset": r.get("baseAsset"),
         "quote_asset": r.get("quoteAsset"), "exchange": r.get("exchange"), "market_type": r.get("marketType"),
         "contract_type": r.get("contractType"), "delivery_date": r.get("deliveryDate"), "status": r.get("status")}
        for r in data.get("items") or [] if isinstance(r, dict)
    ]
    total = data.get("total")
    return {"items": items, "page": data.get("page"), "page_size": data.get("pageSize"),
            "total": int(total) if isinstance(total, (int, str)) and str(total).isdigit() else len(items)}
