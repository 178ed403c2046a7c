"""OKX v5 venue session (kind ``okx``): spot and USDT-margined swaps. Facts: ../shared/venues/okx.md."""
