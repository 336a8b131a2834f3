"""A relay on loopback between ggml-rpc's client and one RPC server, so that a server going away cannot take the
app down with it.

ggml-rpc's client aborts the process (GGML_ABORT) as soon as a send or a receive fails — a server killed or a
cable pulled mid-answer would close SpecChat with everything unsaved. So ggml-rpc never talks to a server
directly: it is given 127.0.0.1:<relay port>, and the relay forwards each command, following the protocol's
framing (rpc_protocol.py). When the server stops answering (connection closed or reset, keep-alive or reply
timeout), the relay marks the server lost and from then on answers ggml-rpc itself — the rest of a reply cut
short and every later command — with zero-filled replies of the size ggml-rpc waits for. llama_decode then
returns (with meaningless logits), LoadedModel sees `lost` after the decode and raises, the answer stops with
stop reason `error`, and the model can be freed normally (its frees go to the relay).

The relay adds one hop on loopback per command (a few tens of microseconds; docs/benchmarks.md has the cost).
"""

from __future__ import annotations

import logging
import socket
import struct
import threading

from app.core.inference.rpc_protocol import (CMD_ALLOC_BUFFER, CMD_BUFFER_GET_BASE, CMD_GET_ALIGNMENT,
                                             CMD_GET_MAX_SIZE, CMD_HELLO, CMD_SET_TENSOR_HASH, CONN_CAPS_SIZE,
                                             GET_TENSOR, PROTO_VERSION, RESPONSE_SIZE, Endpoint, recv_exact)

log = logging.getLogger("specchat.rpc")

CHUNK = 4 << 20  # tensor uploads stream through in pieces of this size
SMALL = 1 << 16  # requests up to this size are read whole before they are forwarded
CONNECT_TIMEOUT_S = 5.0
# a reply may legitimately take long (a long prompt on a slow server); a dead host is found sooner by keep-alive
REPLY_TIMEOUT_S = 600.0


def _keepalive(sock: socket.socket) -> None:
    """A host that vanished (power, cable) sends no reset: TCP keep-alive finds it within ~25 s of silence."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def fabricated_reply(cmd: int, size: int, request: bytes, serial: int) -> bytes:
    """What the relay answers for a lost server: enough for ggml-rpc to carry on and free its buffers."""
    out = bytearray(size)
    if cmd == CMD_HELLO:
        out[:3] = bytes(PROTO_VERSION)
    elif cmd == CMD_ALLOC_BUFFER and len(request) >= 12:
        (asked,) = struct.unpack_from("<Q", request, 4)
        out[:] = struct.pack("<QQ", serial, asked)  # a distinct non-null handle
    elif cmd == CMD_BUFFER_GET_BASE:
        out[:] = struct.pack("<Q", 1 << 32)
    elif cmd == CMD_GET_ALIGNMENT:
        out[:] = struct.pack("<Q", 32)
    elif cmd == CMD_GET_MAX_SIZE:
        out[:] = struct.pack("<Q", 1 << 40)
    elif cmd == CMD_SET_TENSOR_HASH:
        out[:] = b"\x01"  # "the server has it": no data is sent to nowhere
    return bytes(out)


class RpcRelay:
    """Listens on 127.0.0.1 (an ephemeral port) and relays each connection ggml-rpc makes to `upstream`."""

    def __init__(self, upstream: Endpoint, reply_timeout: float = REPLY_TIMEOUT_S) -> None:
        self.upstream = upstream
        self.reply_timeout = reply_timeout
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = Endpoint("127.0.0.1", self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._sessions = 0  # live client connections (ggml-rpc keeps one per server while buffers live)
        self.lost: str | None = None  # why the server of the current connection was lost
        self._closed = False
        threading.Thread(target=self._accept, name=f"rpc-relay {upstream}", daemon=True).start()

    @property
    def connected(self) -> bool:
        """ggml-rpc holds a connection through this relay (a loaded model uses the server)."""
        return self._sessions > 0

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(client,), name=f"rpc-relay {self.upstream} session",
                             daemon=True).start()

    def _mark_lost(self, why: str) -> None:
        with self._lock:
            if self.lost is not None:
                return
            self.lost = f"RPC server {self.upstream} stopped answering ({why})"
        log.error("%s", self.lost)

    def _open_upstream(self) -> socket.socket | None:
        try:
            up = socket.create_connection((self.upstream.host, self.upstream.port), timeout=CONNECT_TIMEOUT_S)
        except OSError as e:
            self._mark_lost(f"not reachable: {e.strerror or e}")
            return None
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _keepalive(up)
        up.settimeout(self.reply_timeout)
        return up

    def _session(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sessions += 1
            self.lost = None  # a new connection (a new model load) starts with the server's present state
        up = self._open_upstream()
        serial = 1
        try:
            while True:
                try:
                    head = recv_exact(client, 9)
                except OSError:
                    return  # ggml-rpc closed its connection (the model was freed)
                cmd, size = struct.unpack("<BQ", head)
                want = RESPONSE_SIZE.get(cmd)
                request = b""
                if size <= SMALL or want is not None:
                    request = recv_exact(client, size)
                    if cmd == CMD_HELLO:  # plain TCP through the relay: no RDMA upgrade around it
                        request = bytes(CONN_CAPS_SIZE)
                    if want == GET_TENSOR:
                        (want,) = struct.unpack_from("<Q", request, size - 8)
                    if up is not None:
                        up = self._send(up, head + request)
                else:
                    up = self._stream(client, up, cmd, size)
                if want is None:
                    continue
                if up is not None:
                    up = self._reply(client, up, cmd, want, request, serial)
                else:
                    client.sendall(struct.pack("<Q", want) + fabricated_reply(cmd, want, request, serial))
                serial += 1
        except OSError:
            return  # the client side broke: nothing is waiting for us
        finally:
            with self._lock:
                self._sessions -= 1
            client.close()
            if up is not None:
                up.close()

    def _send(self, up: socket.socket, data: bytes) -> socket.socket | None:
        try:
            up.sendall(data)
            return up
        except OSError as e:
            self._drop(up, e)
            return None

    def _drop(self, up: socket.socket, error: BaseException) -> None:
        reason = "no reply in time" if isinstance(error, socket.timeout) else str(error) or type(error).__name__
        self._mark_lost(reason)
        up.close()

    def _stream(self, client: socket.socket, up: socket.socket | None, cmd: int, size: int) -> socket.socket | None:
        """A large request (a tensor upload): forwarded piece by piece; read to its end even once up is gone."""
        buf = bytearray(min(size, CHUNK))
        view = memoryview(buf)
        left = size
        first = True
        while left:
            n = client.recv_into(view[: min(left, CHUNK)])
            if n == 0:
                raise ConnectionError("the client closed mid-request")
            left -= n
            if up is None:
                continue
            try:
                if first:
                    up.sendall(struct.pack("<BQ", cmd, size))
                    first = False
                up.sendall(view[:n])
            except OSError as e:
                self._drop(up, e)
                up = None
        return up

    def _reply(self, client: socket.socket, up: socket.socket, cmd: int, want: int, request: bytes,
               serial: int) -> socket.socket | None:
        """Forward the server's reply; if it breaks off, finish it with zeros so ggml-rpc's wait ends.
        (A failing send to the client is an OSError out of here: the session ends.)"""
        sent = 0
        buf = bytearray(min(want, CHUNK) or 1)
        view = memoryview(buf)
        try:
            (size,) = struct.unpack("<Q", recv_exact(up, 8))
            if size != want:
                raise ConnectionError(f"a {size}-byte reply where {want} bytes were expected")
        except OSError as e:
            self._drop(up, e)
            client.sendall(struct.pack("<Q", want) + fabricated_reply(cmd, want, request, serial))
            return None
        client.sendall(struct.pack("<Q", want))
        while sent < want:
            try:
                n = up.recv_into(view[: min(want - sent, CHUNK)])
                if n == 0:
                    raise ConnectionError("the connection was closed")
            except OSError as e:
                self._drop(up, e)
                client.sendall(fabricated_reply(cmd, want, request, serial)[sent:])
                return None
            client.sendall(view[:n])
            sent += n
        return up


_relays: dict[Endpoint, RpcRelay] = {}
_relays_lock = threading.Lock()


def relay_for(endpoint: Endpoint) -> RpcRelay:
    """The process's one relay for this server (ggml-rpc registers a server's devices once per address, so the
    address it is given must stay the same for the life of the process)."""
    with _relays_lock:
        relay = _relays.get(endpoint)
        if relay is None:
            relay = _relays[endpoint] = RpcRelay(endpoint)
        return relay
