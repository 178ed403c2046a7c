"""Pieces every venue session shares: HTTP client, rate budgets, retry classifier, resilient WebSocket, time offset."""
