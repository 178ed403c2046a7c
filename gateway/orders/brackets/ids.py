"""Deterministic client order ids for bracket orders, and their parser.

    <bracket_id>-en          the entry
    <bracket_id>-tp<gen>     generation <gen> (>= 1) of the take-profit leg
    <bracket_id>-sl<gen>     generation <gen> (>= 1) of the stop-loss leg

A bracket id is 1-24 characters of [A-Za-z0-9_], so every id fits 36 characters of [A-Za-z0-9_-] (the
common venue limit, `Capabilities.client_order_id_max_len`). A re-placed leg takes the next generation,
so a repair never re-sends an id the venue has already seen, and replaying a repair is harmless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from gateway.orders.brackets.model import LegName

__all__ = [
    "ClientOrderRef",
    "entry_client_order_id",
    "is_valid_bracket_id",
    "leg_client_order_id",
    "parse_client_order_id",
]

_BRACKET_ID = re.compile(r"[A-Za-z0-9_]{1,24}\Z")
_CLIENT_ID = re.compile(r"([A-Za-z0-9_]{1,24})-(?:(en)|(tp|sl)([1-9][0-9]{0,8}))\Z")
_MAX_GENERATION: Final = 999_999_999  # 24 + len("-tp") + 9 digits = 36 characters


@dataclass(frozen=True, slots=True)
class ClientOrderRef:
    """What a bracket client order id names: the bracket, the role (`en`, `tp`, `sl`) and the generation."""

    bracket_id: str
    role: str
    generation: int


def is_valid_bracket_id(bracket_id: str) -> bool:
    """Return whether `bracket_id` is 1-24 characters of [A-Za-z0-9_] (no `-`: it separates the role)."""
    return _BRACKET_ID.match(bracket_id) is not None


def entry_client_order_id(bracket_id: str) -> str:
    """Return the entry order's client order id."""
    return f"{bracket_id}-en"


def leg_client_order_id(bracket_id: str, leg: LegName, generation: int) -> str:
    """Return the client order id of generation `generation` (>= 1) of a leg; at most 36 characters."""
    if not 1 <= generation <= _MAX_GENERATION:
        raise ValueError(f"leg generation out of range: {generation}")
    return f"{bracket_id}-{leg.value}{generation}"


def parse_client_order_id(client_order_id: str | None) -> ClientOrderRef | None:
    """Return what a bracket client order id names, or None when it is not one of ours."""
    if not client_order_id:
        return None
    m = _CLIENT_ID.match(client_order_id)
    if m is None:
        return None
    if m.group(2):
        return ClientOrderRef(m.group(1), "en", 0)
    return ClientOrderRef(m.group(1), m.group(3), int(m.group(4)))
