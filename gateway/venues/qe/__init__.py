"""Quantum Execute (QE): algorithmic master orders (TWAP / VWAP / POV) executed by QE on a bound exchange account.

Pure: `auth` (signing), `schemas` (the envelope and the records, parsed once), `tracker` (the user
stream's dedupe and catch-up state). I/O: `rest`, `stream`, `adapter`. `port.AlgoVenue` is what the algo
path (`gateway.orders.algo.remote`) needs of it.
"""
