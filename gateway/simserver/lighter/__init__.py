"""The Lighter fake: Lighter's REST and WebSocket shapes over the sim engine (see `server`)."""
