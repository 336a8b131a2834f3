"""The main model's layers over this machine and RPC servers: which servers, where each layer goes.

A load with RPC servers (LoadOptions.rpc) goes: probe every server in Python with a timeout (rpc_protocol: a
clear error naming a server that is down, busy or of another version — before anything is unloaded and before
ggml-rpc, which would abort, sees it); register each server's devices through its relay (rpc_relay); weigh the
participants — this machine (its GPUs, or its CPU when it has none) and each server's devices — by free memory,
or by the user's manual split; then hand llama.cpp the devices, `tensor_split` and `n_gpu_layers`. llama.cpp's
own layer assignment (llama-model.cpp, load_tensors) is replayed here so that `generate --json` and the sidebar
can say where the layers went.
"""

from __future__ import annotations

import bisect
import ctypes
import logging
from dataclasses import dataclass, field

import llama_cpp

from app.core.inference.ggml_devices import Device, add_rpc_server, cpu_device, local_gpus, rpc_supported
from app.core.infra.requests import RpcServers
from app.core.inference.rpc_protocol import Endpoint, RpcError, parse_endpoints, probe
from app.core.inference.rpc_relay import RpcRelay, relay_for

log = logging.getLogger("specchat.rpc")

PROBE_TIMEOUT_S = 3.0


def parse_servers(servers: str, split: str = "") -> RpcServers:
    """From the CLI's "h1:p1,h2:p2" and "1,2,2" (ValueError with a clear message for bad input)."""
    eps = tuple(str(e) for e in parse_endpoints(servers))
    try:
        weights = tuple(float(w) for w in split.split(",") if w.strip())
    except ValueError:
        raise ValueError(f"--rpc-split {split!r}: give comma-separated numbers") from None
    return RpcServers(eps, weights)


@dataclass
class Placement:
    """What llama_model_params gets, and where the layers go (kept alive until the model is loaded)."""
    n_gpu_layers: int
    devices: ctypes.Array | None  # NULL-terminated ggml_backend_dev_t array
    tensor_split: ctypes.Array | None
    layout: list[tuple[str, int]]  # (device name, layers) over the model's n_layer + 1 (the output layer)
    relays: list[RpcRelay] = field(default_factory=list)


def device_label(dev: Device, servers: dict[str, str]) -> str:
    """"CPU", "CUDA0", or the server's address for an RPC device (its relay address mapped back)."""
    where = servers.get(dev.description)
    return f"RPC {where}" if where else dev.name


def layer_layout(n_layer: int, n_gpu_layers: int, weights: list[float]) -> list[int]:
    """llama.cpp's assignment (load_tensors): layers below i_gpu_start stay on the CPU, the rest (with the output
    layer, index n_layer) go to the devices by cumulative normalized weights. Returns [cpu, dev0, dev1, ...]."""
    counts = [0] * (len(weights) + 1)
    total = sum(weights)
    cumulative, running = [], 0.0
    for w in weights:
        running += w
        cumulative.append(running / total if total else 0.0)
    i_gpu_start = max(n_layer + 1 - n_gpu_layers, 0)
    act = min(n_gpu_layers, n_layer + 1) if weights else 0
    for il in range(n_layer + 1):
        if il < i_gpu_start or il - i_gpu_start >= act:
            counts[0] += 1
        else:
            j = bisect.bisect_right(cumulative, float(il - i_gpu_start) / act)
            counts[1 + min(j, len(weights) - 1)] += 1
    return counts


@dataclass(frozen=True)
class ServerState:
    """One RPC server as the sidebar's list shows it."""
    endpoint: str  # as the user wrote it
    ok: bool  # reachable (or in use by the loaded model)
    in_use: bool = False  # the loaded model holds a connection through it: not probed again
    free: int = 0  # bytes, from its probe
    total: int = 0
    error: str = ""  # why it is not reachable


def check_servers(servers: RpcServers) -> list[ServerState]:
    """Every server's state, in the order given."""
    out = []
    for text in servers.endpoints:
        ep = parse_endpoints(text)[0]
        relay = relay_for(ep)
        if relay.connected and relay.lost is None:
            out.append(ServerState(text, ok=True, in_use=True))
            continue
        try:
            info = probe(ep, PROBE_TIMEOUT_S)
            out.append(ServerState(text, ok=True, free=info.free, total=info.total))
        except RpcError as e:
            out.append(ServerState(text, ok=False, error=str(e)))
    return out


def _server_devices(ep: Endpoint) -> tuple[RpcRelay, list[Device]]:
    relay = relay_for(ep)
    if not (relay.connected and relay.lost is None):
        probe(ep, PROBE_TIMEOUT_S)  # raises RpcError naming the server: ggml-rpc must never meet a dead one
    devs = add_rpc_server(str(relay.address))
    if not devs or relay.lost:
        raise RpcError(str(ep), relay.lost or f"RPC server {ep} offers no devices")
    return relay, devs


def check_split(servers: RpcServers) -> None:
    """A manual split has one non-negative weight for this machine, then one per server (ValueError if not)."""
    n = len(servers.endpoints) + 1
    if servers.split and (len(servers.split) != n or any(w < 0 for w in servers.split) or not sum(servers.split)):
        raise ValueError(f"the split needs {n} non-negative weights (this machine, then each server), not "
                         f"{', '.join(map(str, servers.split))}")


def place(servers: RpcServers, n_layer: int, n_gpu_layers: int) -> Placement:
    """Probe, register and weigh; raises RpcError (a server) or ValueError (the split) before any load."""
    if not rpc_supported():
        raise RpcError("", "this llama-cpp-python was built without the RPC backend: run `make setup` again "
                           "(the Makefile builds it with -DGGML_RPC=ON)")
    eps = [parse_endpoints(e)[0] for e in servers.endpoints]
    relays: list[RpcRelay] = []
    remote: list[list[Device]] = []
    for ep in eps:
        relay, devs = _server_devices(ep)
        relays.append(relay)
        remote.append(devs)
    gpus = local_gpus()
    local = gpus or [cpu_device()]
    # weights: this machine's share, then each server's (a manual split), spread over each one's devices by
    # their free memory; without a manual split, every device's free memory as llama.cpp's default split does
    groups = [local] + remote
    check_split(servers)
    if servers.split:
        shares = list(servers.split)
    else:
        shares = [float(sum(d.memory()[0] for d in g)) for g in groups]
    weights: list[tuple[Device, float]] = []
    for group, share in zip(groups, shares):
        frees = [max(d.memory()[0], 1) for d in group]
        weights += [(d, share * f / sum(frees)) for d, f in zip(group, frees)]
    units = n_layer + 1
    if gpus:
        offload = [(d, w) for d, w in weights]
        n_gpu = n_gpu_layers if n_gpu_layers >= 0 else units
    else:
        # no GPU here: the CPU's share is the layers kept below i_gpu_start; the servers split the rest
        cpu_w, offload = weights[0][1], weights[1:]
        total = cpu_w + sum(w for _, w in offload)
        cpu_layers = min(units - 1, round(units * cpu_w / total)) if total else 0
        n_gpu = units - cpu_layers
    labels = {str(r.address): str(ep) for r, ep in zip(relays, eps)}
    counts = layer_layout(n_layer, n_gpu, [w for _, w in offload])
    layout = [("CPU", counts[0])] if counts[0] or not gpus else []
    layout += [(device_label(d, labels), c) for (d, _), c in zip(offload, counts[1:])]
    handles = (ctypes.c_void_p * (len(offload) + 1))(*[d.handle for d, _ in offload], None)
    split = (ctypes.c_float * llama_cpp.llama_max_devices())(*[w for _, w in offload])
    log.info("RPC placement: %s", ", ".join(f"{n} {c}" for n, c in layout))
    return Placement(n_gpu, handles, split, layout, relays)
