"""The Binance dialect of the sim exchange: spot ``/api/v3`` and USD-M ``/fapi/v1`` plus market streams."""
