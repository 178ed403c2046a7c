"""Signing with the official signer offline (a throwaway key, no network), off the event loop; nonces."""

from __future__ import annotations

import asyncio
import threading

import pytest
from pydantic import SecretStr

from gateway.venues.lighter.nonces import NonceKeeper
from gateway.venues.lighter.signer import LighterSigner, SigningError, generate_api_key

ACCOUNT = 11


async def test_signing_works_offline_on_its_own_thread_with_an_explicit_nonce() -> None:
    private, public = generate_api_key()
    signer = LighterSigner("http://127.0.0.1:9", 300, ACCOUNT, {5: SecretStr(private)})
    await signer.start()
    try:
        loop_thread = threading.get_ident()
        signed = await signer.create_order(nonce=17, api_key_index=5, market_index=0, client_order_index=9,
                                           base_amount=1000, price=405000, is_ask=False, order_type=0,
                                           time_in_force=1)
        fields = signed.fields
        assert signed.tx_type == 14 and len(signed.tx_hash) == 80
        assert (fields["AccountIndex"], fields["ApiKeyIndex"], fields["Nonce"]) == (ACCOUNT, 5, 17)
        assert (fields["BaseAmount"], fields["Price"], fields["ClientOrderIndex"]) == (1000, 405000, 9)
        cancel = await signer.cancel_order(nonce=18, api_key_index=5, market_index=0, index=9)
        assert cancel.tx_type == 15 and cancel.fields["Index"] == 9
        token = await signer.auth_token(2_000_000_000, 5)
        assert token.startswith(f"2000000000:{ACCOUNT}:5:")
        assert signer._executor is not None and threading.get_ident() == loop_thread
        with pytest.raises(SigningError):  # the Go signer's own rule: a market order takes no trigger
            await signer.create_order(nonce=19, api_key_index=5, market_index=0, client_order_index=10,
                                      base_amount=1000, price=405000, is_ask=False, order_type=1, time_in_force=0,
                                      trigger_price=5, order_expiry=0)
        assert private not in repr(signer) and public not in repr(signer)
    finally:
        await signer.close()


async def test_nonces_are_serialized_per_key_and_reread_after_a_refusal() -> None:
    fetched: list[int] = []

    async def fetch(key: int) -> int:
        fetched.append(key)
        return 100

    keeper = NonceKeeper([2], fetch)
    seen: list[int] = []

    async def submit(refuse: bool) -> None:
        async with keeper.lease() as lease:
            seen.append(lease.nonce)
            await asyncio.sleep(0)  # yield inside the lease: other submitters must wait for the lock
            lease.refused() if refuse else lease.accepted()

    await asyncio.gather(*(submit(False) for _ in range(20)))
    assert seen == list(range(100, 120)) and fetched == [2]
    await submit(True)
    await submit(False)
    assert seen[-2:] == [120, 100] and fetched == [2, 2]  # refused: the venue's nonce is read again
