"""Stop strings on a token stream: hold back only what could be the start of a stop string.

Text that cannot begin any stop string goes out at once, so streaming stays live; when a stop string completes,
the text before it is released and the rest (the stop string itself) is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Protocol, TypeVar

from app.core.models.reasoning import marker_start_at_end


class HasText(Protocol):
    @property
    def text(self) -> str: ...  # read-only: the events are frozen dataclasses


E = TypeVar("E", bound=HasText)


class StopStringFilter:
    def __init__(self, stops: tuple[str, ...] | list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.held: list = []
        self.held_text = ""
        self.stopped = False

    def push(self, event: E) -> Iterator[E]:
        """Feed one event; yields the events that are now safe to show (text possibly cut at a stop string)."""
        if self.stopped:
            return
        if not self.stops:
            yield event
            return
        self.held.append(event)
        self.held_text += event.text
        hits = [i for i in (self.held_text.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.stopped = True
            yield from self._release(min(hits), cut=True)
            return
        yield from self._release(len(self.held_text) - marker_start_at_end(self.held_text, self.stops))

    def flush(self) -> Iterator[E]:
        yield from self._release(len(self.held_text))

    def _release(self, upto: int, cut: bool = False) -> Iterator:
        """Yield held events whose text lies within the first `upto` characters (with cut: trim the one that
        straddles the boundary and drop the rest)."""
        done = 0
        while self.held:
            ev = self.held[0]
            if done + len(ev.text) <= upto:
                done += len(ev.text)
                self.held.pop(0)
                yield ev
            elif cut:
                if upto > done:
                    yield replace(ev, text=ev.text[: upto - done])
                self.held.clear()
                break
            else:
                break
        self.held_text = "".join(e.text for e in self.held)
