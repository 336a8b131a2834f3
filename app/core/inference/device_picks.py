"""Greedy picks on the device: llama.cpp's greedy sampler chain attached to a context (`llama_set_sampler`), so
an argmax node in each decode graph picks every output row's token where the logits are and only the token ids
come back (`llama_get_sampled_token_ith`); the logits are then not copied to the host at all (~200 KB a row for a
49k vocabulary: a sync and a copy per draft step on a GPU).

Measured on an H100 (docs/benchmarks.md, issue 25): no faster than numpy's argmax of the copied row there, since
the copy is not where the time goes; kept as the GPU default because it never costs more and reads back less.
"""

from __future__ import annotations

import os

import llama_cpp


def wanted(offloaded_layers: int) -> bool:
    """Where greedy picks go on the device: where a layer runs off this CPU (on a CPU the logits are in memory
    already and numpy's argmax costs less than the graph's); SPECCHAT_DEVICE_GREEDY=on|off overrides that
    (benchmarks, and the tests on a CPU)."""
    choice = os.environ.get("SPECCHAT_DEVICE_GREEDY", "auto")
    return choice == "on" or (choice != "off" and offloaded_layers > 0)


class DeviceGreedy:
    """The greedy sampler chain of one llama_context: attached, detached, freed."""

    def __init__(self, ctx: llama_cpp.llama_context_p) -> None:
        self.ctx = ctx
        self.on = False
        self._chain: llama_cpp.llama_sampler_p | None = None  # attached: the context holds its pointer
        # chains let go of: freed at the next switch, when a decode has rebuilt the graph without them (a server
        # that alternates greedy and sampled requests would otherwise keep one per switch)
        self._detached: list[llama_cpp.llama_sampler_p] = []

    def set(self, on: bool) -> bool:
        """Returns whether picks are now made on the device (llama.cpp refuses where its backend lacks the ops)."""
        if on == self.on:
            return on
        self._free_detached()
        if on:
            # a chain is initialised for one context once (llama.cpp asserts it): a fresh one each time
            self._chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
            llama_cpp.llama_sampler_chain_add(self._chain, llama_cpp.llama_sampler_init_greedy())
            on = bool(llama_cpp.llama_set_sampler(self.ctx, 0, self._chain))
        if not on:
            llama_cpp.llama_set_sampler(self.ctx, 0, None)
            if self._chain is not None:
                self._detached.append(self._chain)
                self._chain = None
        self.on = on
        return on

    def token(self, index: int) -> int:
        """The pick of output row `index` of the last decode (negative: from the end); -1 where none was made."""
        return int(llama_cpp.llama_get_sampled_token_ith(self.ctx, index))

    @property
    def held(self) -> int:
        """Chains not yet freed."""
        return len(self._detached) + (self._chain is not None)

    def _free_detached(self) -> None:
        for chain in self._detached:
            llama_cpp.llama_sampler_free(chain)
        self._detached = []

    def close(self) -> None:
        """After llama_free of the context: nothing refers to the chains any more."""
        self._free_detached()
        if self._chain is not None:
            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None
        self.on = False
