"""The sim admin endpoints (`/admin/sim/*`) of a gateway's ops server, over real HTTP."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from gateway.api.config import HttpSettings
from gateway.venues.sim.config import SimSettings
from tests.conftest import make_settings

ADMIN_KEY = "admin-key-for-sim-tests"


async def admin(session: aiohttp.ClientSession, method: str, url: str, body: Any = None,
                key: str | None = ADMIN_KEY, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"X-Admin-Key": key} if key is not None else {}
    kwargs: dict[str, Any] = {"data": raw} if raw is not None else ({"json": body} if body is not None else {})
    async with session.request(method, url, headers=headers, **kwargs) as response:
        return response.status, await response.json()


def settings_for(tmp_path: Path, admin_key: str | None = ADMIN_KEY, **sim: Any):
    settings = make_settings(venues={"sim": SimSettings(message_rate=50, **sim)},
                             persistence={"data_dir": str(tmp_path / "data")})
    http = HttpSettings(port=0, admin_key=SecretStr(admin_key) if admin_key else None)
    return settings.model_copy(update={"http": http})


@pytest.fixture
async def ops(gateway_factory, tmp_path: Path):
    gateway = await gateway_factory(settings_for(tmp_path))
    async with aiohttp.ClientSession() as session:
        yield gateway, session, f"http://127.0.0.1:{gateway.ops.port}"


async def test_users_deposits_and_withdrawals_over_http(ops) -> None:
    gateway, session, url = ops
    status, user = await admin(session, "POST", f"{url}/admin/sim/users", {"user": "u1", "name": "User One"})
    assert status == 201, user
    assert (user["user"], user["account"], user["exchange"], user["permissions"]) == ("u1", "u1", "sim",
                                                                                      ["read", "trade"])
    key = user.pop("api_key")
    assert len(key) >= 32
    status, listed = await admin(session, "GET", f"{url}/admin/sim/users")
    assert listed == {"users": [user]}  # never the key

    status, balance = await admin(session, "POST", f"{url}/admin/sim/users/u1/deposit", {"asset": "USDT", "amount": "250"})
    assert status == 200 and balance == {"account": "u1", "asset": "USDT", "free": "250", "locked": "0"}
    status, error = await admin(session, "POST", f"{url}/admin/sim/users/u1/withdraw", {"asset": "USDT", "amount": 300})
    assert status == 409 and error["error"]["code"] == "INSUFFICIENT_BALANCE"
    assert "250" in error["error"]["message"]
    status, balance = await admin(session, "POST", f"{url}/admin/sim/users/u1/withdraw", {"asset": "USDT", "amount": 50})
    assert status == 200 and D(balance["free"]) == 200

    # the new key trades on its own account through the REST API (and only there)
    async with session.get(f"{url}/api/v1/account", headers={"X-API-KEY": key}) as response:
        account = await response.json()
    assert account["account"] == "u1" and account["balances"] == [{"asset": "USDT", "free": "200", "locked": "0"}]
    async with session.get(f"{url}/api/v1/account?account=sim", headers={"X-API-KEY": key}) as response:
        assert response.status == 403
    # the configured sim venue's own account can be funded too
    status, balance = await admin(session, "POST", f"{url}/admin/sim/users/sim/deposit", {"asset": "BTC", "amount": 1})
    assert status == 200 and D(balance["free"]) == 2
    status, balances = await admin(session, "GET", f"{url}/admin/sim/users/u1/balances")
    assert balances == {"account": "u1", "balances": {"USDT": {"free": "200", "locked": "0"}}}
    assert "u1" in gateway.venues and gateway.orders.is_ready


async def test_symbols_over_http(ops) -> None:
    gateway, session, url = ops
    status, listed = await admin(session, "POST", f"{url}/admin/sim/symbols",
                                 {"symbol": "SOLUSDT", "base": "SOL", "quote": "USDT", "start_price": "150"})
    assert status == 200, listed
    assert (listed["symbol"], listed["native"], listed["tick_size"]) == ("SOL/USDT", "SOLUSDT", "0.0001")
    assert "SOL/USDT" in gateway.venues["sim"].instruments
    status, again = await admin(session, "POST", f"{url}/admin/sim/symbols", {"symbol": "SOL/USDT"})
    assert status == 200 and again == listed
    status, error = await admin(session, "POST", f"{url}/admin/sim/symbols", {"symbol": "SOLUSDT", "tick_size": "1"})
    assert status == 400 and "listed already" in error["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "raw", "status", "code"),
    [
        ("POST", "/admin/sim/users", None, b"{not json", 400, "INVALID_JSON"),
        ("POST", "/admin/sim/users", None, b"[1, 2]", 400, "INVALID_REQUEST"),
        ("POST", "/admin/sim/users", {"user": "u2", "colour": "red"}, None, 400, "INVALID_PARAMS"),
        ("POST", "/admin/sim/users", {}, None, 400, "INVALID_PARAMS"),
        ("POST", "/admin/sim/users", {"user": 7}, None, 400, "INVALID_PARAMS"),
        ("POST", "/admin/sim/users", {"user": "sim"}, None, 400, "INVALID_PARAMS"),
        ("POST", "/admin/sim/users", {"user": "a:b"}, None, 400, "INVALID_PARAMS"),
        ("POST", "/admin/sim/users", {"user": "u3", "permissions": ["root"]}, None, 400, "INVALID_PARAMS"),
        ("POST", "/admin/sim/users", {"user": "u3", "venue": "nowhere"}, None, 404, "UNKNOWN_VENUE"),
        ("POST", "/admin/sim/users/nobody/deposit", {"asset": "USDT", "amount": "1"}, None, 404, "UNKNOWN_VENUE"),
        ("POST", "/admin/sim/users/sim/deposit", {"asset": "USDT", "amount": "-1"}, None, 400, "INVALID_PARAMS"),
        ("POST", "/admin/sim/users/sim/deposit", {"asset": "USDT", "amount": [1]}, None, 400, "INVALID_PARAMS"),
        ("POST", "/admin/sim/users/sim/deposit", {"asset": "US DT", "amount": "1"}, None, 400, "INVALID_PARAMS"),
        ("POST", "/admin/sim/users/sim/withdraw", {"asset": "USDT"}, None, 400, "INVALID_PARAMS"),
        ("POST", "/admin/sim/symbols", {"symbol": "NOPE"}, None, 400, "UNKNOWN_SYMBOL"),
        ("POST", "/admin/sim/symbols", {"symbol": "X/USDT", "start_price": "-3"}, None, 400, "INVALID_PARAMS"),
    ],
)
async def test_bad_requests_answer_a_clear_error_and_change_nothing(ops, method, path, body, raw, status, code) -> None:
    gateway, session, url = ops
    before = (sorted(gateway.venues), {a: dict(b) for a, b in gateway.sim.balances("sim").items()})
    got, error = await admin(session, method, url + path, body, raw=raw)
    assert (got, error["error"]["code"]) == (status, code), error
    assert error["error"]["message"]
    assert (sorted(gateway.venues), {a: dict(b) for a, b in gateway.sim.balances("sim").items()}) == before


async def test_a_wrong_or_missing_admin_key_is_refused(ops) -> None:
    gateway, session, url = ops
    for key in (None, "wrong-key"):
        status, error = await admin(session, "POST", f"{url}/admin/sim/users", {"user": "u1"}, key=key)
        assert status == 401 and error["error"]["code"] == "UNAUTHENTICATED"
    assert "u1" not in gateway.venues


async def test_without_an_admin_key_the_endpoints_are_off(gateway_factory, tmp_path: Path) -> None:
    gateway = await gateway_factory(settings_for(tmp_path, admin_key=None))
    async with aiohttp.ClientSession() as session:
        status, error = await admin(session, "POST", f"http://127.0.0.1:{gateway.ops.port}/admin/sim/users",
                                    {"user": "u1"})
    assert status == 403 and error["error"]["code"] == "FORBIDDEN"


async def test_a_durable_sim_takes_no_users_or_symbols(gateway_factory, tmp_path: Path) -> None:
    gateway = await gateway_factory(settings_for(tmp_path, state_path=str(tmp_path / "sim.db")))
    url = f"http://127.0.0.1:{gateway.ops.port}"
    async with aiohttp.ClientSession() as session:
        status, error = await admin(session, "POST", f"{url}/admin/sim/users", {"user": "u1"})
        assert status == 409 and error["error"]["code"] == "NOT_SUPPORTED" and "state_path" in error["error"]["message"]
        status, error = await admin(session, "POST", f"{url}/admin/sim/symbols", {"symbol": "SOLUSDT"})
        assert status == 409 and error["error"]["code"] == "NOT_SUPPORTED"
        status, balance = await admin(session, "POST", f"{url}/admin/sim/users/sim/deposit",
                                      {"asset": "USDT", "amount": "5"})  # funds: yes, and kept
        assert status == 200 and D(balance["free"]) == 100_005


async def test_a_reset_of_a_shared_exchange_resets_and_reconciles_every_account(ops) -> None:
    gateway, session, url = ops
    status, user = await admin(session, "POST", f"{url}/admin/sim/users", {"user": "u1"})
    headers = {"X-API-KEY": user["api_key"]}
    await admin(session, "POST", f"{url}/admin/sim/users/u1/deposit", {"asset": "USDT", "amount": "1000"})
    async with session.post(f"{url}/api/v1/order", headers=headers, json={
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "20000"}) as response:
        assert response.status == 200 and (await response.json())["status"] == "NEW"
    status, answer = await admin(session, "POST", f"{url}/admin/venues/sim/reset")
    assert status == 200 and answer == {"venue": "sim", "reset": True, "reconciled": True}
    assert await gateway.venues["u1"].open_orders() == []  # the exchange forgot the user's order
    assert gateway.sim.balances("u1") == {}  # back to its opening balances: none
    async with session.get(f"{url}/api/v1/account", headers=headers) as response:
        assert (await response.json())["balances"] == []
