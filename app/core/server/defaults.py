"""Where the local server listens unless told otherwise: apart from the server itself, so that the CLI can
name them in its help without importing uvicorn and Starlette (`bench` and `generate` run on machines that
have the engine's dependencies only, such as the lent GPU machine)."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1234  # LM Studio's: clients set up for it find us without a change
