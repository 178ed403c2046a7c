"""The northbound APIs: the strategy WebSocket, the ops HTTP server and (later) the FMZ bridge."""
