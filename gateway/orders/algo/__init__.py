"""Algorithmic parent orders (TWAP, VWAP, POV): the pure core and the local engine that runs them.

Pure (no asyncio, no I/O, no clock): `model` (the parent, its children, the state machine), `validation`
(the rules of QE's master-order parameter table), `schedule` (TWAP / VWAP schedules), `engine` (the
slicing decisions), `ids` (child client order ids). The shell: `writer` (the single writer) and
`service.LocalAlgoEngine` (an `AlgoBackend`; a QE backend plugs into the same `backend.AlgoRouter`).
"""
