"""Signing through the official `lighter-sdk` signer (a Go library loaded with ctypes), off the event loop.

Why the low-level calls and not `SignerClient`: `SignerClient` builds an aiohttp session, must be made
inside a running loop, and fetches nonces itself when none is given (fact sheet §4). We only want its
signatures: the gateway does its own I/O and manages nonces (`nonces.NonceKeeper`). So this module
registers each key with the library's ``CreateClient`` (no network) and calls ``Sign*`` with an explicit
nonce and api key index, which the fact sheet tested to be purely local (§5).

The library blocks (about 2.5 ms per signature; ctypes releases the GIL), so every call runs on one
dedicated thread (`ThreadPoolExecutor(max_workers=1)`): the loop never stalls and calls into the Go
library never overlap. Its registry of keys is process-global, keyed by (account, api key index): two
sessions for the same pair would overwrite each other's key, which `LighterSigner` refuses.

Secrets: the private keys are `SecretStr` until they are handed to the library; nothing here logs them,
and errors carry the library's message only.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import SecretStr

__all__ = ["GroupedLeg", "LighterSigner", "SignedTx", "SigningError"]


class SigningError(Exception):
    """The signer refused (a validation rule of the Go library, or an unknown key)."""


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed transaction: what sendTx takes (tx_type, tx_info) and its locally computed hash."""

    tx_type: int
    tx_info: str
    tx_hash: str
    nonce: int
    api_key_index: int

    @property
    def fields(self) -> dict[str, Any]:
        return json.loads(self.tx_info)


@dataclass(frozen=True, slots=True)
class GroupedLeg:
    """One order of a grouped (OTO / OCO / OTOCO) transaction, already scaled to integers."""

    market_index: int
    client_order_index: int
    base_amount: int
    price: int
    is_ask: bool
    order_type: int
    time_in_force: int
    reduce_only: bool
    trigger_price: int
    order_expiry: int


class LighterSigner:
    """The signing keys of one account, and the thread the library runs on.

    Args:
        url: the REST base the library records with each key (it would fetch nonces there if we let it;
            we never do).
        chain_id: part of every signed hash (mainnet 304, testnet 300).
        account_index: the account (> 0).
        keys: api key index -> private key.
    """

    _registered: ClassVar[set[tuple[int, int]]] = set()

    def __init__(self, url: str, chain_id: int, account_index: int, keys: dict[int, SecretStr]):
        self.account_index = account_index
        self.key_indexes = sorted(keys)
        self._url = url
        self._chain_id = chain_id
        self._keys = keys
        self._executor: ThreadPoolExecutor | None = None
        self._lib: Any = None
        self._owned: list[tuple[int, int]] = []

    def __repr__(self) -> str:
        return f"LighterSigner(account_index={self.account_index}, key_indexes={self.key_indexes})"

    async def start(self) -> None:
        """Load the library and register every key (on the signing thread).

        Raises:
            SigningError: a key is malformed, or registered already by another session of this process.
        """
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lighter-signer")
        await self._run(self._register)

    async def close(self) -> None:
        for pair in self._owned:
            LighterSigner._registered.discard(pair)
        self._owned.clear()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _register(self) -> None:
        sdk = _sdk()

        self._lib = sdk.get_signer()
        for index in self.key_indexes:
            pair = (self.account_index, index)
            if pair in LighterSigner._registered:
                raise SigningError(f"api key {index} of account {self.account_index} is in use by another session")
            secret = self._keys[index].get_secret_value()
            secret = secret.removeprefix("0x")
            error = sdk.decode_and_free(self._lib.CreateClient(self._url.encode(), secret.encode(), self._chain_id,
                                                               index, self.account_index))
            if error:
                raise SigningError(f"api key {index}: {error}")
            LighterSigner._registered.add(pair)
            self._owned.append(pair)

    async def _run(self, fn: Any, *args: Any) -> Any:
        if self._executor is None:
            raise SigningError("the signer is not started")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _decode(self, result: Any, nonce: int, key: int) -> SignedTx:
        sdk = _sdk()

        error = sdk.decode_and_free(result.err)
        info = sdk.decode_and_free(result.txInfo)
        tx_hash = sdk.decode_and_free(result.txHash)
        sdk.decode_and_free(result.messageToSign)
        if error or info is None:
            raise SigningError(error or "the signer returned nothing")
        return SignedTx(int(result.txType), info, tx_hash or "", nonce, key)

    # --- transactions (each: explicit nonce and key, so the library never touches the network) ----------

    async def create_order(self, *, nonce: int, api_key_index: int, market_index: int, client_order_index: int,
                           base_amount: int, price: int, is_ask: bool, order_type: int, time_in_force: int,
                           reduce_only: bool = False, trigger_price: int = 0, order_expiry: int = -1) -> SignedTx:
        def call() -> SignedTx:
            result = self._lib.SignCreateOrder(
                market_index, client_order_index, base_amount, price, int(is_ask), order_type, time_in_force,
                int(reduce_only), trigger_price, order_expiry, 0, 0, 0, 0, 0, 0, nonce, api_key_index,
                self.account_index)
            return self._decode(result, nonce, api_key_index)

        return await self._run(call)

    async def create_grouped_orders(self, *, nonce: int, api_key_index: int, grouping_type: int,
                                    legs: list[GroupedLeg]) -> SignedTx:
        def call() -> SignedTx:
            sdk = _sdk()

            array = (sdk.CreateOrderTxReq * len(legs))(*[
                sdk.CreateOrderTxReq(leg.market_index, leg.client_order_index, leg.base_amount, leg.price,
                                     int(leg.is_ask), leg.order_type, leg.time_in_force, int(leg.reduce_only),
                                     leg.trigger_price, leg.order_expiry) for leg in legs])
            result = self._lib.SignCreateGroupedOrders(grouping_type, array, len(legs), 0, 0, 0, 0, 0, 0, nonce,
                                                       api_key_index, self.account_index)
            return self._decode(result, nonce, api_key_index)

        return await self._run(call)

    async def cancel_order(self, *, nonce: int, api_key_index: int, market_index: int, index: int) -> SignedTx:
        """Cancel by order index (>= 2**48) or client order index (1..2**48-1) (fact sheet §4)."""
        def call() -> SignedTx:
            result = self._lib.SignCancelOrder(market_index, index, 0, nonce, api_key_index, self.account_index)
            return self._decode(result, nonce, api_key_index)

        return await self._run(call)

    async def cancel_all_orders(self, *, nonce: int, api_key_index: int, time_in_force: int = 0, time_ms: int = 0,
                                market_index: int = 255) -> SignedTx:
        def call() -> SignedTx:
            result = self._lib.SignCancelAllOrders(time_in_force, time_ms, market_index, 0, nonce, api_key_index,
                                                   self.account_index)
            return self._decode(result, nonce, api_key_index)

        return await self._run(call)

    async def update_leverage(self, *, nonce: int, api_key_index: int, market_index: int, fraction: int,
                              margin_mode: int) -> SignedTx:
        """Set the initial margin fraction (10000 / leverage) and margin mode of a market."""
        def call() -> SignedTx:
            result = self._lib.SignUpdateLeverage(market_index, fraction, margin_mode, 0, nonce, api_key_index,
                                                  self.account_index)
            return self._decode(result, nonce, api_key_index)

        return await self._run(call)

    async def auth_token(self, deadline_s: int, api_key_index: int) -> str:
        """Return an auth token valid until `deadline_s` (unix seconds), made locally (fact sheet §6)."""
        def call() -> str:
            sdk = _sdk()

            result = self._lib.CreateAuthToken(deadline_s, api_key_index, self.account_index)
            token = sdk.decode_and_free(result.str)
            error = sdk.decode_and_free(result.err)
            if error or not token:
                raise SigningError(error or "no auth token")
            return token

        return await self._run(call)


def _sdk() -> Any:
    # The SDK's package __init__ imports its legacy websockets client (a DeprecationWarning with
    # websockets >= 14); we never use it, so the warning is silenced for this import only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from lighter import signer_client

    return signer_client


def generate_api_key() -> tuple[str, str]:
    """Return a fresh (private key, public key) pair, made locally (tests, the fake, key rotation)."""
    sdk = _sdk()

    private, public, error = sdk.create_api_key()
    if error or not private or not public:
        raise SigningError(error or "key generation failed")
    return private, public
