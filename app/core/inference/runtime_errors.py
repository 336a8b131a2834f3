"""What loading a model or decoding with it raises: each message says what went wrong and what to try."""

from __future__ import annotations


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message says why and what to try.

    retry_gpu_layers: when a GPU load failed (out of memory), a smaller layer count worth offering.
    """

    def __init__(self, message: str, retry_gpu_layers: int | None = None) -> None:
        super().__init__(message)
        self.retry_gpu_layers = retry_gpu_layers


class DecodeError(RuntimeError):
    pass


class RpcServerLost(DecodeError):
    """An RPC server holding some of the model's layers went away; the model must be reloaded without it."""

    def __init__(self, message: str, endpoint: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class ContextFull(DecodeError):
    """No room left in the context for what was to be decoded."""


class DecodeCancelled(DecodeError):
    """A long decode (prompt evaluation) was stopped by the cancel flag; the cache keeps what was decoded."""
