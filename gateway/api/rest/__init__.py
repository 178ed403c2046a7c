"""The REST API for strategies (`/api/v1/...`, Binance-like, `X-API-KEY`) on the ops HTTP server.

`spec` (PURE: endpoints, params, the OpenAPI document), `convert` (PURE: Binance-like shapes), `server`
(`RestApi`: the aiohttp routes). See docs/rest-api.md.
"""
