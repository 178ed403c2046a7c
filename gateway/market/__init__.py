"""Market data: the cache of the latest snapshots per (venue, symbol) and the service that feeds it."""
