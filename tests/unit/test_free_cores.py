"""The decoder's thread count follows what other processes leave free (app/core/inference/free_cores.py).

The kernel's counters are the input: a scripted machine feeds FreeCores the CPU time our threads got and the idle
time /proc/stat would show, window by window. The last tests run real llama.cpp: a thread change mid-answer keeps
greedy output token for token, and a real busy process beside a real decode takes a thread off.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import llama_cpp
import pytest

from app.core.inference.free_cores import FREE, LOST, PAUSE_S, WINDOW_S, FreeCores, read_cpu_stat
from app.core.inference.llama_runtime import LoadedModel, LoadOptions

HZ = 1000  # jiffies a second (fine enough that a 50 ms step rounds to nothing)


class ScriptedMachine:
    """Each step is a window's worth of decode calls (a token every 62.5 ms: binary-exact steps, so windows and steps line up) with our CPU share and the machine's
    idle cores as given; `calls=1`: one call after `dt` of nothing."""

    def __init__(self, cores: int = 2) -> None:
        self.cores, self.now, self.ours, self.total, self.idle = cores, 0.0, 0.0, 0, 0

    def stat(self) -> tuple[int, int, int]:
        return self.total, self.idle, self.cores

    def step(self, free: FreeCores, our_cores: float, idle_cores: float, dt: float = WINDOW_S,
             calls: int = 8) -> int:
        for _ in range(calls):
            self.now += dt / calls
            self.ours += our_cores * dt / calls
            self.total += round(self.cores * dt / calls * HZ)
            self.idle += round(idle_cores * dt / calls * HZ)
            threads = free.before_decode()
        return threads


def scripted(cores: int = 2) -> tuple[ScriptedMachine, FreeCores]:
    m = ScriptedMachine(cores)
    free = FreeCores(cores, stat=m.stat, cpu_time=lambda: m.ours, clock=lambda: m.now)
    free.before_decode()  # the first decode opens a window
    return m, free


def test_a_held_core_takes_a_thread_off_and_a_freed_one_gives_it_back() -> None:
    m, free = scripted()
    assert [m.step(free, 2.0, 0.0) for _ in range(4)] == [2, 2, 2, 2]  # quiet: our two threads get two cores
    # a busy process on one core: the thread that shares it gets half of it
    assert [m.step(free, 1.5, 0.0) for _ in range(2)] == [2, 1]  # two windows agree, then one thread
    assert [m.step(free, 1.0, 0.0) for _ in range(5)] == [1] * 5  # the other core stays busy: no idle time
    assert [m.step(free, 1.0, 1.0) for _ in range(2)] == [1, 2]  # it went away: its core idles, a thread returns


def test_one_window_of_another_process_changes_nothing() -> None:
    m, free = scripted()
    seen = [m.step(free, 2.0, 0.0), m.step(free, 1.5, 0.0), m.step(free, 2.0, 0.0), m.step(free, 1.5, 0.0),
            m.step(free, 2.0, 0.0)]
    assert seen == [2] * 5


def test_small_losses_and_little_idle_time_are_noise() -> None:
    m, free = scripted()
    assert {m.step(free, 2.0 - LOST * 0.8, 0.0) for _ in range(6)} == {2}
    m.step(free, 1.5, 0.0), m.step(free, 1.5, 0.0)
    assert free.threads == 1
    assert {m.step(free, 1.0, FREE * 0.8) for _ in range(6)} == {1}


def test_a_pause_between_answers_starts_a_fresh_window() -> None:
    m, free = scripted()
    m.step(free, 1.5, 0.0), m.step(free, 1.5, 0.0)
    assert free.threads == 1
    m.step(free, 1.0, 1.0)  # one window sees a free core
    # the user reads for a minute: the machine idles, and a window that took this in would be the second to see one
    m.step(free, 0.0, 2.0, dt=60.0, calls=1)
    assert m.step(free, 1.0, 0.0) == 1  # the window after the pause is decoding only: the other core is busy


def test_never_fewer_than_one_thread_nor_more_than_the_cores() -> None:
    m, free = scripted(4)
    for _ in range(20):
        m.step(free, 0.5, 0.0)
    assert free.threads == 1
    for _ in range(20):
        m.step(free, free.threads, 4 - free.threads)  # the others went away: our threads get whole cores
    assert free.threads == 4


def test_one_core_or_no_proc_stat_keeps_the_loaded_count() -> None:
    assert not FreeCores(1).enabled
    off = FreeCores(2, stat=lambda: None)
    assert not off.enabled and off.before_decode() == 2


def test_proc_stat_reads_on_this_machine() -> None:
    read = read_cpu_stat()
    if read is None:
        pytest.skip("no /proc/stat")
    total, idle, cpus = read
    assert total > idle >= 0 and cpus >= 1
    assert PAUSE_S < WINDOW_S  # a decode gap shorter than a window never splits one


def test_a_thread_change_mid_answer_keeps_greedy_output(fixtures: dict[str, Path]) -> None:
    options = LoadOptions(n_ctx=256, n_threads=2)

    def answer(switch_at: int | None) -> list[int]:
        with LoadedModel(fixtures["base"], options) as model:
            model.decode(model.tokenize("The quick brown fox"), logits_from=0)
            out = []
            for i in range(24):
                if i == switch_at:
                    llama_cpp.llama_set_n_threads(model.ctx, 1, 1)
                tok = model.argmax(-1)
                out.append(tok)
                model.decode([tok], logits_from=0)
            return out

    assert answer(12) == answer(None)


@pytest.mark.skipif(read_cpu_stat() is None, reason="no /proc/stat")
@pytest.mark.skipif(len(os.sched_getaffinity(0)) > 2 if hasattr(os, "sched_getaffinity") else True,
                    reason="with more than 2 cores the busy process need not share one with our 2 threads")
def test_a_real_busy_process_takes_a_thread_off_a_real_decode(fixtures: dict[str, Path]) -> None:
    free = FreeCores(2)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with LoadedModel(fixtures["base"], LoadOptions(n_ctx=4096, n_threads=0), free_cores=free) as model:
            assert model.threads == 2
            model.decode(model.tokenize("Once upon a time"), logits_from=0)
            deadline = time.monotonic() + 20
            while model.threads == 2 and time.monotonic() < deadline:
                if model.n_past >= model.n_ctx - 1:
                    model.truncate(4)
                model.decode([model.argmax(-1)], logits_from=0)
            assert model.threads == 1
    finally:
        hog.kill()
        hog.wait()
