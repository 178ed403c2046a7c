"""Order operations as OKX answers them, shared by REST and the private WebSocket.

`run_items` runs a list of items through one `OrderDesk` operation and builds the trade envelope (fact
sheet §2): per-item ``sCode``/``sMsg``; top-level ``code`` "0" (all succeeded), "1" (all failed) or "2"
(some did). It applies the injected faults first: a rate-limit answer (50011), and an outcome-unknown
answer (50004, 51054, ...) for order placement, after executing the items when ``applied``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.simserver.okx.limits import LIMITS
from gateway.simserver.okx.params import ItemError

if TYPE_CHECKING:
    from gateway.simserver.okx.server import OkxDialect

__all__ = ["HTTP_STATUS", "OUTCOME_UNKNOWN_MSG", "Outcome", "rate_limited", "run_items"]

# code -> HTTP status of a request-level error (fact sheet §2; the rest answer 200)
HTTP_STATUS = {"50000": 400, "50001": 503, "50002": 400, "50004": 400, "50011": 429, "50013": 429, "50014": 400,
               "50026": 500, "51054": 500, "50101": 401, "50102": 401, "50103": 401, "50104": 401,
               "50105": 401, "50106": 401, "50107": 401, "50111": 401, "50112": 401, "50113": 401}
OUTCOME_UNKNOWN_MSG = {
    "50001": "Service temporarily unavailable. Please try again later.",
    "50004": "API endpoint request timeout (does not mean that the request was successful or failed, please check "
             "the request result).",
    "50013": "Systems are busy. Please try again later.",
    "50026": "System error. Try again later.",
    "51054": "Request timed out. Please try again.",
}
RATE_LIMIT_MSG = "Rate limit reached. Please refer to API documentation and throttle requests accordingly."

Outcome = tuple[str, str, list[dict[str, Any]]]  # (code, msg, data)

PLACING = frozenset({"place", "place_algo"})


def rate_limited(d: OkxDialect, endpoint: str, who: str, items: list[dict[str, Any]] | None, now: int) -> bool:
    """Return True if this request must be answered 50011: an injected fault, or beyond its limit (§2)."""
    if d.faults.rate_limited > 0:
        d.faults.rate_limited -= 1
        return True
    limit = LIMITS.get(endpoint)
    if limit is None or not d.settings.enforce_rate_limits:
        return False
    if items is None:
        return not d.limiter.admit((endpoint, who), limit, now)
    per_inst: dict[str, int] = {}
    for item in items:
        inst_id = str(item.get("instId", ""))
        per_inst[inst_id] = per_inst.get(inst_id, 0) + 1
    # a batch with a single order counts against the single-order budget (§2)
    key = endpoint.replace("batch-orders", "order").replace("cancel-batch-orders", "cancel-order") \
        if len(items) == 1 else endpoint
    budget = LIMITS.get(key, limit)
    return not all(d.limiter.admit((key, who, inst_id), budget, now, count) for inst_id, count in per_inst.items())


def run_items(d: OkxDialect, op: str, items: list[dict[str, Any]], max_items: int = 20) -> Outcome:
    """Run `items` through desk operation `op` (place | cancel | amend | place_algo | cancel_algo)."""
    if not items or not all(isinstance(i, dict) for i in items):
        return "50014", "Parameter data can not be empty.", []
    if len(items) > max_items:
        return "51000", "Parameter orders error", []
    outcome = d.faults.unknown_outcomes.pop(0) if op in PLACING and d.faults.unknown_outcomes else None
    if outcome is not None and not outcome[1]:
        return outcome[0], OUTCOME_UNKNOWN_MSG.get(outcome[0], "Request timed out."), []
    call = getattr(d.desk, op)
    data: list[dict[str, Any]] = []
    failed = 0
    for item in items:
        now = d.now_ms()
        try:
            answer, events = call(item, now)
        except ItemError as exc:
            failed += 1
            answer = _failed(op, item, exc)
        else:
            d.after_engine_call(events, now)
        data.append(answer)
    if outcome is not None:
        return outcome[0], OUTCOME_UNKNOWN_MSG.get(outcome[0], "Request timed out."), []
    if not failed:
        return "0", "", data
    if failed == len(items):
        return "1", "All operations failed", data
    return "2", "Bulk operation partially succeeded", data


def _failed(op: str, item: dict[str, Any], exc: ItemError) -> dict[str, Any]:
    if op in ("place_algo", "cancel_algo", "amend_algo"):
        return {"algoId": str(item.get("algoId", "")), "algoClOrdId": str(item.get("algoClOrdId", "")),
                "clOrdId": "", "tag": str(item.get("tag", "")), "sCode": exc.code, "sMsg": exc.msg}
    return {"ordId": str(item.get("ordId", "")), "clOrdId": str(item.get("clOrdId", "")),
            "tag": str(item.get("tag", "")), "ts": "", "sCode": exc.code, "sMsg": exc.msg, "subCode": ""}
