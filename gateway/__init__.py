"""gateway: an asyncio-native trading gateway daemon."""

__all__ = ["__version__"]

__version__ = "0.1.0"
