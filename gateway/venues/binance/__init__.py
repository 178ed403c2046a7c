"""Binance spot and USD-M futures (venue kind ``binance``). Facts: ../shared/venues/binance.md."""
