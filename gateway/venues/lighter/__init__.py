"""Lighter (zkLighter perpetuals DEX): signing through the official `lighter-sdk` signer, our own I/O.

Facts and their sources: ../shared/venues/lighter.md; the user-facing map of the seed wrapper's methods
is docs/venues/lighter.md.
"""
