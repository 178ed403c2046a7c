"""``python -m gateway.simserver``: the same as ``gateway sim-serve`` (serve a venue dialect until SIGTERM)."""

from __future__ import annotations

import sys

from gateway.__main__ import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main(["sim-serve", *sys.argv[1:]]))
