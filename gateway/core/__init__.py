"""The pure domain: types, rules and state machines. Imports nothing else of gateway, does no I/O."""
