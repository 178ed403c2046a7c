"""Venue dialects served over HTTP and WebSocket on top of the sim engine (Binance first).

Paper trading for existing venue clients, and the fake venues the venue tests run against.
"""
