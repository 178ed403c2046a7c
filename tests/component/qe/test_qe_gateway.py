"""End to end: `algo.place` on a `qe` account of a running gateway goes to Quantum Execute (the QE dialect
on loopback), not to the local engine; its progress and fills come back on ``qe@algo``."""

from __future__ import annotations

from decimal import Decimal

from qe_helpers import dialect_settings, session_settings

from gateway.client import GatewayClient
from gateway.simserver.qe.server import QeDialect
from gateway.venues.sim.config import SimSettings
from tests.conftest import LOCAL_KEY


async def test_a_twap_on_a_qe_account_is_executed_by_qe_and_reported_on_its_algo_stream(gateway_factory) -> None:
    async with QeDialect(dialect_settings()) as dialect:
        gateway = await gateway_factory(venues={"sim": SimSettings(message_rate=50), "qe": session_settings(dialect)})
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            await client.subscribe(["qe@algo"])
            algo = await client.call("algo.place", {
                "account": "qe", "symbol": "BTC/USDT", "side": "buy", "algorithm": "TWAP", "qty": "0.04",
                "execution_duration_s": 2, "client_order_id": "gw-twap-1"})
            assert algo["client_order_id"] == "gw-twap-1"
            assert len(dialect.book.masters) == 1  # QE has it; the local engine does not
            assert gateway.algos is not None and not gateway.algos._writer.algos  # nothing sliced locally
            fills = Decimal(0)
            while True:
                push = await client.next_push("qe@algo", timeout=15)
                if push.data["type"] == "fill" and push.data["algo_id"] == algo["algo_id"]:
                    fills += Decimal(str(push.data["fill"]["qty"]))
                if push.data["type"] == "algo" and push.data["state"] == "completed":
                    break
            assert fills == Decimal("0.04")
            final = await client.call("algo.get", {"account": "qe", "client_order_id": "gw-twap-1"})
            assert final["state"] == "completed" and Decimal(str(final["filled_qty"])) == Decimal("0.04")
            pairs = await client.call("qe.trading_pairs", {"account": "qe"})
            assert pairs  # QE's own list, through the gateway
