"""The local OpenAI-compatible server: speculation and predicted outputs for editors, agents and scripts.

openai_api.py (the wire format, pure), gateway.py (the engine process it shares with the window, and the request
log), asgi.py (the Starlette routes and SSE), runner.py (uvicorn on a thread, or on the caller's for `serve`).
"""
