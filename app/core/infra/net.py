"""Listening sockets, as the two servers (rpc-server, the local OpenAI server) check them before they start."""

from __future__ import annotations

import ipaddress
import socket


def is_loopback(host: str) -> bool:
    """An address only this machine reaches (other machines cannot use what listens there)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_problem(host: str, port: int) -> str | None:
    """Why nothing could listen on host:port now, in words (None: it can). A server library would log an error
    and exit; we say which address and why before it starts."""
    try:
        with socket.create_server((host, port)):
            return None
    except OSError as e:
        return f"cannot listen on {host}:{port}: {e.strerror or e}"
