"""SpecChat: a desktop chat for local GGUF models that makes speculative decoding fast and visible."""

__version__ = "0.1.0"
APP_ID = "io.github.specchat.SpecChat"
APP_NAME = "SpecChat"
