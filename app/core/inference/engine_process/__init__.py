"""The engine in a process of its own: protocol (messages), server (the engine process), client (the app's end)."""
