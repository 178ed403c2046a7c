"""SQLite persistence (WAL, off the event loop): connection, migrations, the order store."""
