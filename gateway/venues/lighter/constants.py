"""Lighter's integer constants (fact sheet §4 "Constants"; the SDK's SignerClient attributes = Go values)."""

from __future__ import annotations

from typing import Final

__all__ = [
    "BASE_AMOUNT_MAX",
    "CANCEL_ALL_IMMEDIATE",
    "CLIENT_INDEX_MAX",
    "CODE_INVALID_NONCE",
    "CODE_OK",
    "GROUPING_OCO",
    "GROUPING_OTO",
    "GROUPING_OTOCO",
    "MARGIN_CROSS",
    "MARGIN_ISOLATED",
    "ORDER_INDEX_MIN",
    "SIGNER_DEFAULT_EXPIRY_MS",
    "OrderTypeCode",
    "TifCode",
    "TxType",
]

CODE_OK: Final = 200
CODE_INVALID_NONCE: Final = 21104  # "invalid nonce" (fact sheet §4, error handling; tested there with a mock)

CLIENT_INDEX_MAX: Final = 2**48 - 1  # client_order_index: 1..2^48-1 (0 = none)
ORDER_INDEX_MIN: Final = 2**48  # order_index: 2^48..2^60-1; cancel's Index below this is a client index
ORDER_INDEX_MAX: Final = 2**60 - 1
PRICE_MAX: Final = 2**32 - 1  # price and trigger_price are uint32
BASE_AMOUNT_MAX: Final = 2**63 - 1  # base_amount is a C long long in the signer's CreateOrderTxReq

GROUPING_OTO: Final = 1
GROUPING_OCO: Final = 2
GROUPING_OTOCO: Final = 3

MARGIN_CROSS: Final = 0
MARGIN_ISOLATED: Final = 1

CANCEL_ALL_IMMEDIATE: Final = 0
NIL_MARKET_INDEX: Final = 255
DEFAULT_28_DAY_EXPIRY: Final = -1
SIGNER_DEFAULT_EXPIRY_MS: Final = 28 * 24 * 3_600_000  # what the signer makes of -1 (fact sheet §4)


class TxType:
    """tx_type numbers of sendTx (fact sheet §4)."""

    CREATE_ORDER: Final = 14
    CANCEL_ORDER: Final = 15
    CANCEL_ALL_ORDERS: Final = 16
    MODIFY_ORDER: Final = 17
    UPDATE_LEVERAGE: Final = 20
    CREATE_GROUPED_ORDERS: Final = 28


class OrderTypeCode:
    """ORDER_TYPE of a CreateOrder tx."""

    LIMIT: Final = 0
    MARKET: Final = 1
    STOP_LOSS: Final = 2
    STOP_LOSS_LIMIT: Final = 3
    TAKE_PROFIT: Final = 4
    TAKE_PROFIT_LIMIT: Final = 5


class TifCode:
    """ORDER_TIME_IN_FORCE of a CreateOrder tx."""

    IMMEDIATE_OR_CANCEL: Final = 0
    GOOD_TILL_TIME: Final = 1
    POST_ONLY: Final = 2
