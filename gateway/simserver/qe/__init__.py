"""The Quantum Execute dialect of the sim exchange (see `server.QeDialect`)."""
