"""Algo ids and the deterministic client order ids of their children. Pure.

    <algo_id>-a<seq>      child number <seq> (>= 1) of the parent

An algo id is 1-24 characters of [A-Za-z0-9_], so a child id fits 36 characters of [A-Za-z0-9_-] (the
common venue limit). The `-a` role keeps child ids apart from bracket ids (`-en`, `-tp<n>`, `-sl<n>`).
A child is never sent twice under one id: every new child takes the next sequence number, also after a
restart (the sequence is persisted before the child is sent).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["child_client_order_id", "is_valid_algo_id", "parse_child_client_order_id"]

_ALGO_ID = re.compile(r"[A-Za-z0-9_]{1,24}\Z")
_CHILD_ID = re.compile(r"([A-Za-z0-9_]{1,24})-a([1-9][0-9]{0,9})\Z")
_MAX_SEQ: Final = 9_999_999_999


def is_valid_algo_id(algo_id: str) -> bool:
    return _ALGO_ID.match(algo_id) is not None


def child_client_order_id(algo_id: str, seq: int) -> str:
    """Return the client order id of child `seq` (>= 1) of `algo_id`; at most 36 characters."""
    if not 1 <= seq <= _MAX_SEQ:
        raise ValueError(f"child sequence out of range: {seq}")
    return f"{algo_id}-a{seq}"


def parse_child_client_order_id(client_order_id: str | None) -> tuple[str, int] | None:
    """Return (algo_id, seq) of a child client order id, or None when it is not one."""
    if not client_order_id:
        return None
    m = _CHILD_ID.match(client_order_id)
    return None if m is None else (m.group(1), int(m.group(2)))
