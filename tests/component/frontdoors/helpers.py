"""Helpers for the HTTP front doors' tests: an in-process gateway (sim venue) with the FMZ bridge and the
REST API served on loopback ports chosen by the OS, and small JSON clients for both."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.api.config import ApiSettings, HttpSettings, Permission, StrategySettings
from gateway.api.fmz.config import FmzCredential, FmzSettings
from gateway.api.fmz.server import FmzServer
from gateway.api.http_server import OpsServer
from gateway.api.rest.server import RestApi
from tests.conftest import LOCAL_KEY

FMZ_ACCESS = "local-dev-key"
FMZ_SECRET = "local-dev-secret"
READER_KEY = "reader-key-0001"
READER_ACCESS = "reader-access-1"
READER_SECRET = "reader-secret-1"


def front_door_overrides() -> dict[str, Any]:
    """Settings overrides: a trading strategy `local` and a read-only `reader`, each with FMZ keys."""
    api = ApiSettings(port=0, strategies=[
        StrategySettings(name="local", api_key=LOCAL_KEY, permissions=frozenset(Permission), accounts=frozenset({"sim"})),
        StrategySettings(name="reader", api_key=READER_KEY, permissions=frozenset({Permission.READ})),
    ])
    fmz = FmzSettings(enabled=True, port=0, credentials=[
        FmzCredential(strategy="local", access_key=FMZ_ACCESS, secret_key=FMZ_SECRET, paths={"/sim": "sim"}),
        FmzCredential(strategy="reader", access_key=READER_ACCESS, secret_key=READER_SECRET,
                      paths={"/sim": "sim", "/readonly": "sim"}),
    ])
    return {"api": api, "fmz": fmz}


@dataclass
class FrontDoors:
    gateway: Any
    fmz_url: str
    rest_url: str
    http: aiohttp.ClientSession
    ops: Any = None
    _nonces: Any = None

    def __post_init__(self) -> None:
        self._nonces = itertools.count(time.time_ns())

    def nonce(self) -> int:
        return next(self._nonces)

    async def fmz(self, method: str, params: dict[str, Any] | None = None, *, path: str = "/sim",
                  access_key: str = FMZ_ACCESS, secret_key: str = FMZ_SECRET, nonce: int | None = None,
                  headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        """POST one general-protocol request shaped like the seed's; return (status, body)."""
        body = {"access_key": access_key, "method": method, "nonce": self.nonce() if nonce is None else nonce,
                "params": {} if params is None else params, "secret_key": secret_key}
        return await self.fmz_raw(path, body, headers=headers)

    async def fmz_raw(self, path: str, body: Any, *, headers: dict[str, str] | None = None,
                      http_method: str = "POST") -> tuple[int, dict[str, Any]]:
        kwargs: dict[str, Any] = {"headers": headers or {}}
        kwargs["data" if isinstance(body, bytes | str) else "json"] = body
        async with self.http.request(http_method, self.fmz_url + path, **kwargs) as response:
            return response.status, await response.json(content_type=None)

    async def rest(self, method: str, path: str, *, key: str | None = LOCAL_KEY, params: dict[str, Any] | None = None,
                   json: Any = None, data: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        all_headers = dict(headers or {})
        if key is not None:
            all_headers["X-API-KEY"] = key
        async with self.http.request(method, self.rest_url + path, params=params, json=json, data=data,
                                     headers=all_headers) as response:
            return response.status, await response.json(content_type=None)


@contextlib.asynccontextmanager
async def serve_front_doors(gateway: Any) -> AsyncIterator[FrontDoors]:
    """Serve the FMZ bridge and the REST API of a started gateway (as app.py wires them)."""
    rest = RestApi(gateway.api.services, gateway.api.methods)
    ops = OpsServer(HttpSettings(port=0), ready=gateway.readiness_problems, status=gateway.status,
                    extra_routes=rest.routes())
    fmz = FmzServer(gateway.settings.fmz, gateway.api.services, gateway.api.methods)
    async with ops, fmz, aiohttp.ClientSession() as http:
        yield FrontDoors(gateway, f"http://127.0.0.1:{fmz.port}", f"http://127.0.0.1:{ops.port}", http, ops)


@contextlib.asynccontextmanager
async def fmz_on_venues(gateway_factory: Any, venues: dict[str, Any], paths: dict[str, str],
                        dialect: Any) -> AsyncIterator[FrontDoors]:
    """A gateway on `venues` (a dialect's accounts) with the FMZ bridge mapping `paths` to them for the
    one trading strategy `local`; the front doors carry the dialect as `.dialect`."""
    from gateway.orders.config import OrdersSettings

    api = ApiSettings(port=0, strategies=[StrategySettings(name="local", api_key=LOCAL_KEY,
                                                           permissions=frozenset(Permission))])
    fmz = FmzSettings(enabled=True, port=0, credentials=[
        FmzCredential(strategy="local", access_key=FMZ_ACCESS, secret_key=FMZ_SECRET, paths=paths)])
    gateway = await gateway_factory(
        venues=venues, api=api, fmz=fmz,
        orders=OrdersSettings(unknown_backoff_base_ms=20, unknown_backoff_max_ms=200, resolve_interval_ms=20))
    async with serve_front_doors(gateway) as front:
        front.dialect = dialect
        yield front


async def fmz_ok(doors: FrontDoors, path: str, method: str, params: dict[str, Any] | None = None,
                 **kw: Any) -> dict[str, Any]:
    """One FMZ call on `path` that must answer 200; return the body."""
    status, body = await doors.fmz(method, params, path=path, **kw)
    assert status == 200, body
    return body
