"""Building, signing and sending Lighter transactions (orders, grouped orders, cancels, leverage).

Every tx is signed and sent while holding its API key's nonce lease (`nonces`), so one key's txs reach
the venue in nonce order and a refused or lost tx makes the next one re-read the nonce. sendTx's 200 only
means "accepted by the API server" (fact sheet §8): the order's index comes later, so a placement
answers PENDING_NEW and the order is remembered in `pending` until the venue shows it (`adapter`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from gateway.core.enums import OrderStatus, OrderType, Side, TimeInForce
from gateway.core.errors import ErrorCode, OrderRejected, VenueError, VenueRejected
from gateway.core.events import OrderUpdate
from gateway.core.ports import OrderRequest
from gateway.venues.lighter.constants import CODE_INVALID_NONCE, OrderTypeCode, TifCode
from gateway.venues.lighter.nonces import NonceKeeper
from gateway.venues.lighter.rest import LighterRest
from gateway.venues.lighter.scaling import ClientIndexMap, MarketSpec, ScalingError
from gateway.venues.lighter.signer import GroupedLeg, LighterSigner, SignedTx, SigningError

__all__ = ["LighterExecution", "OrderPlan", "PendingOrder", "plan_order"]

log = structlog.get_logger("gateway.venues.lighter")

_CONDITIONAL = {OrderType.STOP: OrderTypeCode.STOP_LOSS, OrderType.STOP_LIMIT: OrderTypeCode.STOP_LOSS_LIMIT,
                OrderType.TAKE_PROFIT: OrderTypeCode.TAKE_PROFIT,
                OrderType.TAKE_PROFIT_LIMIT: OrderTypeCode.TAKE_PROFIT_LIMIT}


OrderPlan = GroupedLeg  # an order in Lighter's integers, ready to sign (a CreateOrder tx or one leg of a group)


@dataclass
class PendingOrder:
    """An order the venue accepted but has not shown yet."""

    request: OrderRequest
    client_order_index: int
    sent_ms: int
    tx_hash: str


def plan_order(request: OrderRequest, spec: MarketSpec, client_order_index: int, *, worst: Decimal | None,
               gtt_expiry: int) -> OrderPlan:
    """Translate a gateway order into Lighter's fields (pure; fact sheet §4 validation rules).

    `worst` is the price bound of a market order and of stop / take-profit market orders.

    Raises:
        OrderRejected: NOT_SUPPORTED (FOK) or PRECISION (a value off Lighter's integer scale).
    """
    try:
        base = spec.to_base_amount(request.qty)
        trigger = spec.to_price(request.trigger_price) if request.trigger_price is not None else 0
        if request.type is OrderType.MARKET:
            if worst is None:
                raise ScalingError("a market order needs a worst price")
            return OrderPlan(spec.market_id, client_order_index, base, spec.to_price(worst),
                             request.side is Side.SELL, OrderTypeCode.MARKET, TifCode.IMMEDIATE_OR_CANCEL,
                             request.reduce_only, 0, 0)
        if request.tif is TimeInForce.FOK:
            raise OrderRejected("Lighter has no fill-or-kill", code=ErrorCode.NOT_SUPPORTED)
        if request.type is OrderType.LIMIT:
            if request.price is None:
                raise ScalingError("a limit order needs a price")
            tif = {TimeInForce.IOC: TifCode.IMMEDIATE_OR_CANCEL, TimeInForce.POST_ONLY: TifCode.POST_ONLY}.get(
                request.tif, TifCode.GOOD_TILL_TIME)
            expiry = 0 if tif == TifCode.IMMEDIATE_OR_CANCEL else gtt_expiry
            return OrderPlan(spec.market_id, client_order_index, base, spec.to_price(request.price),
                             request.side is Side.SELL, OrderTypeCode.LIMIT, tif, request.reduce_only, 0, expiry)
        code = _CONDITIONAL[request.type]
        if request.type.has_limit_price:
            if request.price is None:
                raise ScalingError("a stop / take-profit limit order needs a price")
            price, tif = spec.to_price(request.price), TifCode.GOOD_TILL_TIME
        else:  # at market once triggered: IOC with an expiry (fact sheet §4), bounded by the worst price
            price, tif = spec.to_price(worst) if worst is not None else trigger, TifCode.IMMEDIATE_OR_CANCEL
        return OrderPlan(spec.market_id, client_order_index, base, price, request.side is Side.SELL, code, tif,
                         request.reduce_only, trigger, gtt_expiry)
    except ScalingError as exc:
        raise OrderRejected(str(exc), code=ErrorCode.PRECISION) from exc


class LighterExecution:
    """Send txs for one account.

    Args:
        venue: the venue name.
        signer: the account's keys.
        nonces: nonce leases per key.
        rest: the REST client.
        clock_ms: local time (ms).
        price_protection: the sendTx form field (None: not sent).
    """

    def __init__(self, venue: str, signer: LighterSigner, nonces: NonceKeeper, rest: LighterRest,
                 clock_ms: Callable[[], int], ids: ClientIndexMap, price_protection: bool | None = None):
        self._venue = venue
        self._signer = signer
        self._nonces = nonces
        self._rest = rest
        self._now = clock_ms
        self.ids = ids
        self._price_protection = price_protection
        self.pending: dict[int, PendingOrder] = {}  # client order index -> accepted, not seen yet
        self.nonce_errors = 0
        self.sent = 0

    async def send(self, sign: Callable[[int, int], Awaitable[SignedTx]]) -> tuple[SignedTx, dict[str, Any]]:
        """Sign (with the leased nonce and key) and send one tx; return it and the venue's answer.

        Raises:
            VenueRejected: refused by the API server (the nonce is re-read before the next tx).
            VenueTimeout / VenueUnavailable: no answer (the nonce is re-read too).
            OrderRejected: the signer refused (a local validation rule).
        """
        async with self._nonces.lease() as lease:
            try:
                signed = await sign(lease.nonce, lease.api_key_index)
            except SigningError as exc:  # nothing was sent; the lease re-reads the nonce
                raise OrderRejected(f"the signer refused: {exc}", code=ErrorCode.INVALID_PARAMS) from exc
            try:
                answer = await self._rest.send_tx(signed.tx_type, signed.tx_info, self._price_protection)
            except VenueRejected as exc:
                lease.refused()
                if exc.venue_code == CODE_INVALID_NONCE:
                    self.nonce_errors += 1
                    log.warning("lighter.nonce_rejected", venue=self._venue, nonce=lease.nonce,
                                api_key_index=lease.api_key_index)
                raise
            lease.accepted()
            self.sent += 1
            return signed, answer

    async def place(self, request: OrderRequest, plan: OrderPlan) -> OrderUpdate:
        """Send a CreateOrder tx; answer PENDING_NEW (accepted, index not known yet)."""
        signed, answer = await self.send(lambda nonce, key: self._signer.create_order(
            nonce=nonce, api_key_index=key, market_index=plan.market_index,
            client_order_index=plan.client_order_index, base_amount=plan.base_amount, price=plan.price,
            is_ask=plan.is_ask, order_type=plan.order_type, time_in_force=plan.time_in_force,
            reduce_only=plan.reduce_only, trigger_price=plan.trigger_price, order_expiry=plan.order_expiry))
        now = self._now()
        self.pending[plan.client_order_index] = PendingOrder(request, plan.client_order_index, now,
                                                             str(answer.get("tx_hash") or signed.tx_hash))
        return accepted_update(self._venue, request, now)

    async def place_group(self, grouping_type: int, legs: list[OrderPlan],
                          requests: list[OrderRequest]) -> SignedTx:
        """Send a CreateGroupedOrders tx; every leg is remembered as pending."""
        signed, answer = await self.send(lambda nonce, key: self._signer.create_grouped_orders(
            nonce=nonce, api_key_index=key, grouping_type=grouping_type, legs=legs))
        now = self._now()
        for plan, request in zip(legs, requests, strict=True):
            self.pending[plan.client_order_index] = PendingOrder(request, plan.client_order_index, now,
                                                                 str(answer.get("tx_hash") or signed.tx_hash))
        return signed

    async def cancel(self, market_index: int, index: int) -> SignedTx:
        """Cancel by order index or client order index (both are valid `Index` values)."""
        signed, _ = await self.send(lambda nonce, key: self._signer.cancel_order(
            nonce=nonce, api_key_index=key, market_index=market_index, index=index))
        return signed

    async def cancel_all(self) -> SignedTx:
        signed, _ = await self.send(lambda nonce, key: self._signer.cancel_all_orders(nonce=nonce, api_key_index=key))
        return signed

    async def update_leverage(self, market_index: int, leverage: int, margin_mode: int) -> SignedTx:
        fraction = 10_000 // leverage  # initial margin fraction in 1/10000 (fact sheet §4)
        signed, _ = await self.send(lambda nonce, key: self._signer.update_leverage(
            nonce=nonce, api_key_index=key, market_index=market_index, fraction=fraction, margin_mode=margin_mode))
        return signed


def accepted_update(venue: str, request: OrderRequest, now: int, status: OrderStatus = OrderStatus.PENDING_NEW,
                    reason: str | None = None) -> OrderUpdate:
    """The report of an order the venue has accepted but not yet shown (no order index)."""
    return OrderUpdate(venue=venue, symbol=request.symbol, order_id=None, client_order_id=request.client_order_id,
                       side=request.side, type=request.type, tif=request.tif, price=request.price,
                       trigger_price=request.trigger_price, qty=request.qty, filled_qty=Decimal(0), avg_price=None,
                       status=status, reduce_only=request.reduce_only, ts=now, recv_ts=now, reason=reason)


def is_nonce_error(exc: VenueError) -> bool:
    return exc.venue_code == CODE_INVALID_NONCE

