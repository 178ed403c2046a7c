"""The OKX v5 dialect of the sim exchange: OKX's REST paths, envelopes, codes and WebSockets over the engine."""
