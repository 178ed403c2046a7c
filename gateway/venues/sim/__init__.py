"""The embedded simulated exchange: a pure matching engine, a synthetic market and the adapter shell."""
