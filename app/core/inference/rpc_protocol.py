"""ggml-rpc's wire protocol, as much as SpecChat speaks itself: the probe (is a server up, which version, how much
free memory) and the framing the relay (rpc_relay.py) follows.

Why speak it in Python at all: ggml-rpc's own client calls GGML_ABORT — abort() of the whole process — when it
cannot connect, when the handshake fails, and when a connection breaks mid-answer. So nothing is handed to
ggml-rpc before this module has seen the server answer, with a timeout, and every connection ggml-rpc makes goes
through the relay, which keeps it whole when the server goes away.

The protocol (vendor/llama.cpp/ggml/src/ggml-rpc/ggml-rpc.cpp of llama-cpp-python 0.3.36, protocol 7.0.0):
request  | cmd (1 byte) | size (8 bytes, little-endian) | data (size bytes) |
response | size (8 bytes) | data (size bytes) |, only for the commands in RESPONSE_SIZE. A server serves one
client at a time, in order: while SpecChat is connected, a second client's HELLO waits.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

# the protocol version of the vendored llama.cpp (ggml-rpc.h: RPC_PROTO_*_VERSION); the client accepts a
# server with the same major and a minor no newer than its own
PROTO_VERSION = (7, 0, 0)
DEFAULT_PORT = 50052

CMD_ALLOC_BUFFER, CMD_GET_ALIGNMENT, CMD_GET_MAX_SIZE, CMD_BUFFER_GET_BASE = 0, 1, 2, 3
CMD_FREE_BUFFER, CMD_BUFFER_CLEAR, CMD_SET_TENSOR, CMD_SET_TENSOR_HASH, CMD_GET_TENSOR = 4, 5, 6, 7, 8
CMD_COPY_TENSOR, CMD_GRAPH_COMPUTE, CMD_GET_DEVICE_MEMORY, CMD_INIT_TENSOR, CMD_GET_ALLOC_SIZE = 9, 10, 11, 12, 13
CMD_HELLO, CMD_DEVICE_COUNT, CMD_GRAPH_RECOMPUTE, CMD_MEMSET_TENSOR = 14, 15, 16, 17

CONN_CAPS_SIZE = 24  # transport.h: RDMA capabilities exchanged in HELLO (all zero: plain TCP)
HELLO_RSP_SIZE = 4 + CONN_CAPS_SIZE

# the response size the client waits for, per command that has a response; GET_TENSOR's is the size it asks for
# (the request's last 8 bytes); the other commands have no response at all
GET_TENSOR = -1
RESPONSE_SIZE = {
    CMD_ALLOC_BUFFER: 16, CMD_GET_ALIGNMENT: 8, CMD_GET_MAX_SIZE: 8, CMD_BUFFER_GET_BASE: 8,
    CMD_SET_TENSOR_HASH: 1, CMD_GET_TENSOR: GET_TENSOR, CMD_COPY_TENSOR: 1, CMD_GET_DEVICE_MEMORY: 16,
    CMD_GET_ALLOC_SIZE: 8, CMD_HELLO: HELLO_RSP_SIZE, CMD_DEVICE_COUNT: 4,
}


class RpcError(RuntimeError):
    """A server that cannot be used; the message names it and says why."""

    def __init__(self, endpoint: str, message: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    """"host:port" (or "host", port 50052; "[v6addr]:port"), with a clear error for anything else."""
    text = text.strip()
    if not text:
        raise ValueError("an empty RPC server address")
    host, port_text = text, str(DEFAULT_PORT)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r} is not host:port")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"{text!r} has no host name")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{text!r}: the port must be a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"{text!r}: the port must be within 1..65535")
    return Endpoint(host, port)


def parse_endpoints(text: str) -> list[Endpoint]:
    """"h1:p1,h2:p2" → endpoints, each once."""
    out: list[Endpoint] = []
    for part in text.split(","):
        if part.strip():
            ep = parse_endpoint(part)
            if ep not in out:
                out.append(ep)
    return out


def frame(cmd: int, payload: bytes) -> bytes:
    return struct.pack("<BQ", cmd, len(payload)) + payload


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise ConnectionError("the connection was closed")
        got += k
    return bytes(buf)


def call(sock: socket.socket, cmd: int, payload: bytes, response_size: int) -> bytes:
    sock.sendall(frame(cmd, payload))
    (size,) = struct.unpack("<Q", recv_exact(sock, 8))
    if size != response_size:
        raise ConnectionError(f"a {size}-byte answer where {response_size} bytes were expected")
    return recv_exact(sock, size)


@dataclass(frozen=True)
class DeviceMemory:
    free: int
    total: int


@dataclass(frozen=True)
class ServerInfo:
    endpoint: Endpoint
    version: tuple[int, int, int]
    devices: tuple[DeviceMemory, ...]

    @property
    def free(self) -> int:
        return sum(d.free for d in self.devices)

    @property
    def total(self) -> int:
        return sum(d.total for d in self.devices)


def version_text(v: tuple[int, int, int]) -> str:
    return ".".join(map(str, v))


def compatible(server: tuple[int, int, int]) -> bool:
    """ggml-rpc's own rule (negotiate_hello): same major, the server's minor not newer than ours."""
    return server[0] == PROTO_VERSION[0] and server[1] <= PROTO_VERSION[1]


def hello(sock: socket.socket, endpoint: Endpoint) -> tuple[int, int, int]:
    """The handshake, with the version checked: a mismatch is a clear error (ggml-rpc would abort)."""
    rsp = call(sock, CMD_HELLO, bytes(CONN_CAPS_SIZE), HELLO_RSP_SIZE)
    version = (rsp[0], rsp[1], rsp[2])
    if not compatible(version):
        raise RpcError(str(endpoint), f"RPC server {endpoint} speaks protocol {version_text(version)}, this "
                       f"SpecChat speaks {version_text(PROTO_VERSION)}: run the same SpecChat (llama-cpp-python "
                       "0.3.36) on both machines")
    return version


def probe(endpoint: Endpoint, timeout: float = 3.0) -> ServerInfo:
    """Connect, shake hands, read each device's free memory, disconnect — within `timeout` seconds per step.

    Raises RpcError naming the server: unreachable, busy (a server serves one client at a time), not an RPC
    server, or another protocol version.
    """
    where = str(endpoint)
    try:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    except socket.timeout:
        raise RpcError(where, f"RPC server {where} did not answer within {timeout:g} s") from None
    except OSError as e:
        raise RpcError(where, f"RPC server {where} is not reachable ({e.strerror or e})") from None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        version = hello(sock, endpoint)
        (count,) = struct.unpack("<I", call(sock, CMD_DEVICE_COUNT, b"", 4))
        devices = []
        for i in range(count):
            free, total = struct.unpack("<QQ", call(sock, CMD_GET_DEVICE_MEMORY, struct.pack("<I", i), 16))
            devices.append(DeviceMemory(free, total))
    except socket.timeout:
        raise RpcError(where, f"RPC server {where} accepted the connection but did not answer within {timeout:g} "
                       "s: it is busy with another client (a server serves one at a time), or it is not an RPC "
                       "server") from None
    except (ConnectionError, OSError, struct.error) as e:
        raise RpcError(where, f"{where} is not a compatible RPC server ({e})") from None
    finally:
        sock.close()
    if not devices:
        raise RpcError(where, f"RPC server {where} offers no devices")
    return ServerInfo(endpoint, version, tuple(devices))
