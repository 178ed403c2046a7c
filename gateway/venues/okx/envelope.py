"""The ``{code, msg, data}`` envelope and per-item ``sCode``/``sMsg`` of OKX answers, parsed once. Pure.

Fact sheet §2: ``code`` is a string and ``"0"`` is success; most business errors come with HTTP 200;
trade endpoints carry ``sCode``/``sMsg`` per item, which are authoritative for that item; ``data`` may be
null. The error mapping (`to_error`) is the one place an OKX code becomes a gateway error:

    UNKNOWN_OUTCOME on a write                      -> VenueTimeout (query the order; never re-send)
    50011 / 50013 / 50061 (throttled, busy) on a read -> VenueRateLimited
    50001 / 50026 (unavailable) on a read            -> VenueUnavailable
    anything else                                    -> VenueRejected(venue_code, venue_message)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.core.errors import VenueError, VenueRateLimited, VenueRejected, VenueTimeout, VenueUnavailable

__all__ = [
    "BAD_TIMESTAMP",
    "NO_SUCH_ORDER",
    "RATE_LIMITED",
    "UNKNOWN_OUTCOME",
    "BadAnswer",
    "Envelope",
    "ItemResult",
    "decode_envelope",
    "item_results",
    "to_envelope",
    "to_error",
]

# Fact sheet §2 and §8: "result unknown" answers to an order request.
UNKNOWN_OUTCOME = frozenset({"50001", "50004", "50011", "50013", "50026", "51054"})
RATE_LIMITED = frozenset({"50011", "50013", "50061"})
UNAVAILABLE = frozenset({"50001", "50026", "50004", "51054"})
BAD_TIMESTAMP = frozenset({"50102", "50112"})  # re-sync the offset once and retry
NO_SUCH_ORDER = frozenset({"51603"})


class BadAnswer(ValueError):
    """The venue answered something that is not an OKX envelope (not JSON, wrong types)."""


@dataclass(frozen=True, slots=True)
class Envelope:
    code: str  # "0" success; "1" all items failed; "2" partial; else the request-level error
    msg: str
    data: list[Any]  # always a list here (null/absent -> [])
    in_time: str | None = None  # gateway receive time, µs (trade endpoints)
    out_time: str | None = None

    @property
    def ok(self) -> bool:
        return self.code == "0"


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One item of a trade answer (place / cancel / amend, single or batch)."""

    s_code: str
    s_msg: str
    ord_id: str | None
    cl_ord_id: str | None
    ts: int | None
    algo_id: str | None = None
    algo_cl_ord_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.s_code == "0"


def to_envelope(value: Any) -> Envelope:
    """Return the envelope of an already-decoded JSON object. Raises BadAnswer if it is not one."""
    if not isinstance(value, dict) or "code" not in value:
        raise BadAnswer(f"not an OKX envelope: {str(value)[:200]!r}")
    data = value.get("data")
    if data is None:
        data = []
    elif not isinstance(data, list):
        data = [data]
    in_time, out_time = value.get("inTime"), value.get("outTime")
    return Envelope(str(value["code"]), str(value.get("msg") or ""), data,
                    str(in_time) if in_time is not None else None, str(out_time) if out_time is not None else None)


def decode_envelope(body: bytes | str) -> Envelope:
    """Decode an answer body. Raises BadAnswer for anything but a JSON envelope."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadAnswer(f"not JSON: {body[:200]!r}") from exc
    return to_envelope(value)


def item_results(envelope: Envelope) -> list[ItemResult]:
    """Return the per-item results of a trade answer (items without ``sCode`` take the envelope's code)."""
    found = []
    for item in envelope.data:
        if not isinstance(item, dict):
            raise BadAnswer(f"trade answer item is not an object: {str(item)[:120]!r}")
        s_code = str(item.get("sCode", envelope.code) or "0")
        ts = item.get("ts")
        found.append(ItemResult(
            s_code, str(item.get("sMsg") or (envelope.msg if s_code != "0" else "")),
            item.get("ordId") or None, item.get("clOrdId") or None,
            int(ts) if isinstance(ts, (int, str)) and str(ts).isdigit() else None,
            item.get("algoId") or None, item.get("algoClOrdId") or None))
    return found


def to_error(venue: str, where: str, code: str, message: str, *, write: bool) -> VenueError:
    """Return the gateway error OKX's `code` means for a read or a write (see the module docstring)."""
    text = f"{where}: OKX {code} {message}".strip()
    if write and code in UNKNOWN_OUTCOME:
        return VenueTimeout(f"{text}; the outcome is unknown", venue=venue, venue_code=code, venue_message=message)
    if code in RATE_LIMITED:
        return VenueRateLimited(text, venue=venue, venue_code=code, venue_message=message)
    if code in UNAVAILABLE:
        return VenueUnavailable(text, venue=venue, venue_code=code, venue_message=message)
    return VenueRejected(text, venue=venue, venue_code=code, venue_message=message)
