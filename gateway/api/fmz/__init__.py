"""The FMZ general-protocol bridge: an FMZ host trades through the gateway (docs/fmz.md).

`config` (the `fmz:` settings slice), `protocol` and `auth` (pure), `methods` (the FMZ methods over the
strategy API's method table), `server` (`FmzServer`, the aiohttp shell).
"""
