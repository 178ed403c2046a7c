"""The order path: validation, risk, the pure order manager and its async service shell."""
