"""Does SpecChat answer on this CPU, and what would llama.cpp's AMX path do? A headless check for AMX Xeons.

    python benchmarks/amx_check.py MODEL.gguf [--prompt-tokens 3000]

1. `python -m app generate` with the defaults (AMX left out of the weight buffer types on AMX CPUs), then with
   SPECCHAT_CPU_AMX=1 (llama.cpp's own choice, AMX first): exit status, the startup line, the buffers the
   weights went to (llama.cpp's load log), a long prompt (the batch sizes that crashed).
2. The engine process with SPECCHAT_CPU_AMX=1, driven as the window drives it: when it dies, the sentence the
   window shows, and the native trace faulthandler wrote into engine.log.
Run on a CPU without AMX it says so and checks only that the defaults answer.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def generate(model: Path, prompt_tokens: int, **env: str) -> None:
    prompt = "Hello, who are you?" if not prompt_tokens else "The history of printing. " * (prompt_tokens // 5)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(prompt)
    cmd = [sys.executable, "-m", "app", "-v", "generate", "--model", str(model), "--prompt-file", f.name,
           "--max-tokens", "16", "--ctx", str(max(2048, prompt_tokens + 512)), "--raw"]
    run = subprocess.run(cmd, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    line = next((x for x in run.stderr.splitlines() if "CPU features:" in x), "(no startup line)")
    buffers = sorted(set(re.findall(r"(\S+) model buffer size", run.stderr)))
    tail = next((x for x in reversed(run.stderr.splitlines()) if "tok/s" in x), run.stderr.strip()[-300:])
    print(f"  env {env or '{}'}, prompt ~{prompt_tokens or 6} tokens: exit {run.returncode}"
          f"{' (' + signal_of(run.returncode) + ')' if run.returncode < 0 else ''}")
    print(f"    {line.split('specchat.cpu: ')[-1]}")
    print(f"    weights in: {', '.join(buffers) or '?'}; {tail}")


def signal_of(code: int) -> str:
    import signal
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def engine_process(model: Path) -> None:
    from app.core.inference.engine_process import protocol as p
    from app.core.inference.engine_process.client import EngineClient
    from app.core.infra.requests import GenerateRequest, LoadOptions, SamplerParams

    events: list[p.Event] = []
    seen = threading.Condition()

    def on_event(ev: p.Event) -> None:
        with seen:
            events.append(ev)
            seen.notify_all()

    def wait_for(kind: type | tuple[type, ...], timeout: float = 120) -> p.Event | None:
        with seen:
            seen.wait_for(lambda: any(isinstance(e, kind) for e in events), timeout)
            found = [e for e in events if isinstance(e, kind)]
            return found[-1] if found else None

    log_dir = Path(tempfile.mkdtemp(prefix="amx-check-logs-"))
    client = EngineClient(on_event, log_dir, {"SPECCHAT_CPU_AMX": "1"})
    client.start()
    ready = wait_for(p.Ready)
    print(f"  engine {client.pid}: {ready.cpu if ready else 'no Ready event'}")
    client.send(p.Load("main", str(model), LoadOptions(n_ctx=4096)))
    wait_for(p.Loaded) or wait_for(p.Died, 5)
    request = GenerateRequest(raw="The history of printing. " * 40, max_tokens=16, sampling=SamplerParams(temperature=0))
    client.send(p.Generate(1, request))
    wait_for((p.Died, p.Finished), 300)
    died = next((e for e in events if isinstance(e, p.Died)), None)
    finished = [e for e in events if isinstance(e, p.Finished)]
    if died is None:
        print(f"  the engine did not die: {finished[-1].stats.stop_reason if finished else 'no answer'}")
    else:
        print(f"  the window would say: {died.message}")
        trace = (log_dir / "engine.log").read_text(errors="replace").splitlines()
        native = [x for x in trace if "Fatal Python error" in x or "File " in x or "ggml" in x][:12]
        print("  engine.log (faulthandler):\n    " + "\n    ".join(native or trace[-12:]))
        with seen:
            seen.wait_for(lambda: sum(isinstance(e, p.Ready) for e in events) > 1, 60)
        print(f"  a new engine is up with nothing loaded: {sum(isinstance(e, p.Ready) for e in events) > 1}")
    client.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--prompt-tokens", type=int, default=3000)
    args = ap.parse_args()
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model_name = next((x.split(":", 1)[1].strip() for x in cpuinfo.splitlines() if x.startswith("model name")), "?")
    amx = sorted(set(re.findall(r"\bamx_\w+", cpuinfo)))
    print(f"CPU: {model_name}; AMX flags: {' '.join(amx) or 'none'}")
    print("defaults (what users get):")
    generate(args.model, 0)
    generate(args.model, args.prompt_tokens)
    if not amx:
        print("no AMX on this CPU: nothing more to check")
        return 0
    print("llama.cpp's own choice (SPECCHAT_CPU_AMX=1):")
    generate(args.model, 0, SPECCHAT_CPU_AMX="1")
    generate(args.model, args.prompt_tokens, SPECCHAT_CPU_AMX="1")
    print("the engine process, with AMX kept, as the window drives it:")
    engine_process(args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
