"""`algo.update` and `algo.batch_cancel` on the strategy API: QE's update and batch cancel of master orders,
through a running gateway to the QE dialect on loopback; NOT_SUPPORTED on an account of the local engine."""

from __future__ import annotations

from decimal import Decimal

import pytest
from qe_helpers import dialect_settings, session_settings

from gateway.client import ApiError, GatewayClient
from gateway.simserver.qe.server import QeDialect
from gateway.venues.sim.config import SimSettings
from tests.conftest import LOCAL_KEY

TWAP = {"account": "qe", "symbol": "BTC/USDT", "side": "buy", "algorithm": "TWAP", "qty": "0.04",
        "execution_duration_s": 60}


async def test_update_and_batch_cancel_reach_qe_and_the_local_engine_says_not_supported(gateway_factory) -> None:
    async with QeDialect(dialect_settings()) as dialect:
        gateway = await gateway_factory(venues={"sim": SimSettings(message_rate=50), "qe": session_settings(dialect)})
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            first = await client.call("algo.place", {**TWAP, "client_order_id": "u-1"})
            second = await client.call("algo.place", {**TWAP, "client_order_id": "u-2"})

            updated = await client.call("algo.update", {"account": "qe", "client_order_id": "u-1",
                                                        "up_tolerance": "0.3", "qty": "0.05", "must_complete": False})
            master = dialect.book.masters[first["algo_id"]].algo
            assert master.params["up_tolerance"] == "0.3" and master.params["must_complete"] is False
            assert master.qty == Decimal("0.05") and Decimal(str(updated["qty"])) == Decimal("0.05")

            with pytest.raises(ApiError) as nothing:
                await client.call("algo.update", {"account": "qe", "algo_id": first["algo_id"]})
            assert nothing.value.code == "INVALID_PARAMS"
            with pytest.raises(ApiError) as short:
                await client.call("algo.update", {"account": "qe", "algo_id": first["algo_id"],
                                                  "execution_duration_s": 5})
            assert short.value.code == "INVALID_PARAMS"
            with pytest.raises(ApiError) as below:  # QE's own rule, answered as its rejection
                await client.call("algo.update", {"account": "qe", "algo_id": first["algo_id"], "pov_limit": "0.1",
                                                  "pov_min_limit": "0.2"})
            assert below.value.code == "VENUE_REJECTED"

            result = await client.call("algo.batch_cancel", {"account": "qe", "reason": "flatten",
                                                             "algo_ids": [first["algo_id"], second["algo_id"], "mo-x"]})
            assert result["canceled"] == [first["algo_id"], second["algo_id"]] and result["success_count"] == 2
            assert [f["algo_id"] for f in result["failed"]] == ["mo-x"] and "not found" in result["failed"][0]["reason"]
            for algo in (first, second):
                assert dialect.book.masters[algo["algo_id"]].algo.is_terminal
                assert (await client.call("algo.get", {"account": "qe", "algo_id": algo["algo_id"]}))["state"] == \
                    "canceled"
            with pytest.raises(ApiError) as ended:
                await client.call("algo.update", {"account": "qe", "algo_id": first["algo_id"], "up_tolerance": "0.1"})
            assert ended.value.code == "VENUE_REJECTED"

            local = await client.call("algo.place", {**TWAP, "account": "sim", "qty": "0.01"})
            for method, params in (("algo.update", {"algo_id": local["algo_id"], "up_tolerance": "0.1"}),
                                   ("algo.batch_cancel", {"algo_ids": [local["algo_id"]]})):
                with pytest.raises(ApiError) as unsupported:
                    await client.call(method, {"account": "sim", **params})
                assert unsupported.value.code == "NOT_SUPPORTED"
            await client.call("algo.cancel", {"account": "sim", "algo_id": local["algo_id"]})
