"""Wall time summed per method of a loaded model: which calls an answer's time goes to (the engine's own view of
itself, no profiler attached). Wrapping replaces the bound method on the instance; unwrap() puts it back."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any


class CallTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.rows: dict[str, int] = defaultdict(int)  # decode calls: tokens decoded
        self._wrapped: list[tuple[object, str]] = []

    def wrap(self, obj: object, method: str, label: str) -> None:
        inner: Callable[..., Any] = getattr(obj, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - t0
                self.calls[label] += 1
                if args and isinstance(args[0], list):
                    self.rows[label] += len(args[0])

        setattr(obj, method, timed)
        self._wrapped.append((obj, method))

    def unwrap(self) -> None:
        for obj, method in self._wrapped:
            delattr(obj, method)  # the instance attribute goes: the class's method shows through again
        self._wrapped = []

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()
        self.rows.clear()
