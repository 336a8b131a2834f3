"""How many CPU threads the decoder should use right now: its cores, less those another process keeps busy.

Why: llama.cpp's CPU threads meet at a barrier after every graph node, hundreds of times a token. When another
process keeps one of their cores busy, the thread that shares it runs only in the scheduler's time slices and every
other thread waits for it at each barrier. On this machine (2 cores), with a busy loop on one core, 2-thread
decoding of the F16 SmolLM2 ran 25 tok/s and 1-thread decoding 89 tok/s (`bench --threads 2` / `--threads 1`
beside `python -c "while True: pass"`, docs/benchmarks.md). Quiet, 2 threads is the faster by about 1.7x.

With threads left to the app (the default), `FreeCores` watches two things over half-second windows of decoding,
both read from the kernel, never from timing the model (whose costs the draft-length bandit already measures):
- our threads' share of the CPU: with n threads, a CPU time under n x wall means the scheduler ran something else
  on our cores. Losing 0.4 of a core or more (a thread that shares its core gets half of it) takes one thread off.
- the machine's idle time (/proc/stat): one core or more left idle while we decode means a core came free, and a
  thread goes back on, up to the physical cores.
A change needs two windows in a row that agree, so one burst of another process does not move it. A model with
layers off the CPU (GPU, RPC) keeps its threads: it waits on the device, and its CPU share says nothing.
Linux only (/proc/stat); elsewhere the count stays as loaded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("specchat.threads")

WINDOW_S = 0.5  # one look at the CPU counters per this much decoding
PAUSE_S = 0.25  # a gap this long between decodes (the user reading, a new answer) starts a fresh window
LOST = 0.4  # cores of CPU time our threads did not get in a window: another process holds one of their cores
FREE = 0.6  # idle cores in a window while we decode: a core came free
AGREE = 2  # windows in a row that must call for the same change

STAT = Path("/proc/stat")


def read_cpu_stat(path: Path = STAT) -> tuple[int, int, int] | None:
    """(all jiffies, idle jiffies, logical CPUs) of the whole machine, or None where there is no /proc/stat."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    fields = [int(x) for x in lines[0].split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice: already inside user and nice]
    total = sum(fields[:8])
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return total, idle, max(1, cpus)


class FreeCores:
    """The thread count for this process's CPU decoding, re-judged from the kernel's counters as decoding goes."""

    def __init__(self, cores: int, stat: Callable[[], tuple[int, int, int] | None] = read_cpu_stat,
                 cpu_time: Callable[[], float] = time.process_time,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cores = max(1, cores)
        self.threads = self.cores
        self._stat, self._cpu_time, self._clock = stat, cpu_time, clock
        self._start: tuple[float, float, tuple[int, int, int]] | None = None
        self._last_call = -1e9
        self._want = 0  # the change the last window called for: -1, 0, +1
        self._run = 0  # windows in a row that called for it
        self.enabled = self.cores > 1 and stat() is not None

    def before_decode(self) -> int:
        """Called before each CPU decode: the thread count to decode with."""
        if not self.enabled:
            return self.cores
        now = self._clock()
        paused = now - self._last_call > PAUSE_S
        self._last_call = now
        if paused or self._start is None:
            self._begin(now)
            return self.threads
        began, cpu0, stat0 = self._start
        if now - began < WINDOW_S:
            return self.threads
        stat1 = self._stat()
        if stat1 is None:
            return self.threads
        self._judge(now - began, self._cpu_time() - cpu0, stat0, stat1)
        self._begin(now, stat1)
        return self.threads

    def _begin(self, now: float, stat: tuple[int, int, int] | None = None) -> None:
        stat = stat or self._stat()
        self._start = (now, self._cpu_time(), stat) if stat else None

    def _judge(self, wall: float, ours: float, stat0: tuple[int, int, int], stat1: tuple[int, int, int]) -> None:
        total, idle = stat1[0] - stat0[0], stat1[1] - stat0[1]
        if total <= 0 or wall <= 0:
            return
        lost = self.threads - ours / wall  # cores of CPU time our threads wanted and did not get
        idle_cores = idle / total * self.cores  # the machine's idle share, in physical cores (2 idle hyperthreads: 1)
        want = 0
        if self.threads > 1 and lost >= LOST:
            want = -1
        elif self.threads < self.cores and idle_cores >= FREE:
            want = +1
        self._run = self._run + 1 if want and want == self._want else (1 if want else 0)
        self._want = want
        log.debug("window %.2f s: %d threads, %.2f cores of CPU, %.2f cores idle", wall, self.threads,
                  ours / wall, idle_cores)
        if want and self._run >= AGREE:
            self.threads += want
            self._run = 0
            log.info("%s: now %d decoding threads of %d cores", "another process holds a core" if want < 0
                     else "a core came free", self.threads, self.cores)
