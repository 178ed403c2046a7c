"""The Binance dialect's batch placement: ``POST /fapi/v1/batchOrders`` (fact sheet §4).

``batchOrders`` is a JSON array of order objects, each with the parameters of ``POST /fapi/v1/order``
(values as JSON strings, or numbers); at most 5 (the Binance limit as commonly documented: **unverified**
here, ``BATCH_PLACE_MAX``). Each order is placed on its own, in order, and counted against the account's
ORDERS limits; the answer is one entry per order: the order object, or ``{"code", "msg"}`` of its
refusal (one refusal does not stop the others). A malformed array refuses the whole call with -1130.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from gateway.simserver.binance.rest import ApiError
from gateway.simserver.binance.trading import Params, mandatory, place

if TYPE_CHECKING:
    from gateway.simserver.binance.server import BinanceDialect

__all__ = ["BATCH_PLACE_MAX", "place_batch"]

BATCH_PLACE_MAX = 5


def _invalid() -> ApiError:
    return ApiError(400, -1130, "Data sent for parameter 'batchOrders' is not valid.")


def _as_param(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_batch(raw: str) -> list[Params]:
    """Return the orders of a ``batchOrders`` value as string parameters. Raises `ApiError` -1130."""
    try:
        orders = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _invalid() from None
    if not isinstance(orders, list) or not 1 <= len(orders) <= BATCH_PLACE_MAX:
        raise _invalid()
    if not all(isinstance(o, dict) and all(isinstance(v, str | int | float | bool) for v in o.values())
               for o in orders):
        raise _invalid()
    return [{str(k): _as_param(v) for k, v in o.items()} for o in orders]


async def place_batch(d: BinanceDialect, market: str, p: Params) -> Any:
    """``POST /fapi/v1/batchOrders`` (see the module docstring)."""
    orders = parse_batch(mandatory(p, "batchOrders"))
    answers: list[Any] = []
    for order in orders:
        try:
            d.count_orders(market, 1)
            answers.append(await place(d, market, order))
        except ApiError as exc:
            answers.append({"code": exc.code, "msg": exc.msg})
    return answers
