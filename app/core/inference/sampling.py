"""Sampler transforms as explicit probability distributions, so speculative sampling can compare p and q.

Speculative sampling needs the *probabilities* the main model (p) and the draft (q) assign after the same
transforms. llama.cpp's sampler chain does not hand those back, so the transforms are applied here with numpy,
in llama.cpp's default order: repetition penalty -> top-k -> top-p -> min-p -> temperature. Plain sampling uses
the very same function, which is what makes speculative output follow the main model's distribution.

Greedy decoding (temperature <= 0) never comes here: the engine takes the argmax of the logits row.
A distribution keeps only the surviving candidates (ids sorted by probability), so after top-k everything is
O(k); the O(n_vocab) steps are a max and a comparison (top_k_ids) and, with a repetition penalty, one copy of
the logits row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.core.infra.requests import SamplerParams  # noqa: F401  (the one sampling dataclass; re-exported)


@dataclass(frozen=True)
class Distribution:
    ids: np.ndarray  # int64, most probable first
    probs: np.ndarray  # float64, sums to 1

    def prob(self, token: int) -> float:
        hit = np.flatnonzero(self.ids == token)
        return float(self.probs[hit[0]]) if hit.size else 0.0

    @property
    def top_prob(self) -> float:
        return float(self.probs[0])

    def sample(self, rng: np.random.Generator) -> int:
        cdf = np.cumsum(self.probs)
        i = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
        return int(self.ids[min(i, len(self.ids) - 1)])


def point_mass(token: int) -> Distribution:
    """q for a proposal that was not sampled from a distribution (n-gram lookup): all mass on the token."""
    return Distribution(np.array([token], dtype=np.int64), np.array([1.0]))


def penalty_window(history: Sequence[int], extra: list[int], params: SamplerParams) -> list[int]:
    """The tokens the repetition penalty looks at: the last repeat_last_n of history + extra (all of them when
    it is negative). Empty when there is no penalty, so the token loop copies nothing then. The main model's p
    and the draft's q must see the same window, hence one function for both."""
    if params.repeat_penalty == 1.0 or params.repeat_last_n == 0:
        return []
    recent = list(history[-params.repeat_last_n:]) if params.repeat_last_n > 0 else list(history)
    recent += extra
    return recent[-params.repeat_last_n:] if params.repeat_last_n > 0 else recent


def distribution(logits: np.ndarray, params: SamplerParams, recent: Sequence[int]) -> Distribution:
    """The sampling distribution for one logits row (float32 view of n_vocab values; never modified)."""
    x = logits
    if params.repeat_penalty != 1.0 and recent:  # `recent`: penalty_window()
        seen = np.unique(np.asarray(recent, dtype=np.int64))
        x = logits.copy()
        v = x[seen]
        # llama.cpp's rule: a positive logit is divided by the penalty, a negative one multiplied
        x[seen] = np.where(v > 0, v / params.repeat_penalty, v * params.repeat_penalty)
    n = x.shape[0]
    k = params.top_k if 0 < params.top_k < n else n
    ids = top_k_ids(x, k) if k < n else np.arange(n)
    vals = x[ids].astype(np.float64)
    order = np.argsort(-vals, kind="stable")
    ids, vals = ids[order].astype(np.int64), vals[order]
    # top-p and min-p judge the untempered probabilities (temperature comes last in llama.cpp's chain)
    p = np.exp(vals - vals[0])
    p /= p.sum()
    keep = len(p)
    if params.top_p < 1.0:
        keep = min(keep, int(np.searchsorted(np.cumsum(p), params.top_p, side="left")) + 1)
    if params.min_p > 0.0:
        keep = min(keep, int(np.count_nonzero(p >= params.min_p * p[0])))
    keep = max(keep, 1)
    ids, vals = ids[:keep], vals[:keep]
    if params.temperature != 1.0:
        vals = vals / params.temperature
    p = np.exp(vals - vals[0])
    return Distribution(ids, p / p.sum())


NEAR = (8.0, 16.0, 32.0)  # logit windows under the row's maximum that top_k_ids tries, widest last


def top_k_ids(x: np.ndarray, k: int) -> np.ndarray:
    """The ids of the k largest values of x (in no order), exactly those np.argpartition gives (a tie at the k-th
    value may be broken another way).

    argpartition over a 49k vocabulary takes ~400 us on this CPU (with 9 verify rows and 8 draft steps, a
    sampled round spent ~7 ms on it); the max and a comparison take ~30 us. The k largest lie within the
    first window under the maximum that holds at least k values, so the partition runs on those few only."""
    top = x.max()
    for window in NEAR:
        near = np.flatnonzero(x >= top - window)
        if len(near) >= k:
            return near[np.argpartition(x[near], len(near) - k)[len(near) - k:]]
    n = x.shape[0]
    return np.argpartition(x, n - k)[n - k:]


def residual(p: Distribution, q: Distribution) -> Distribution:
    """norm(max(0, p - q)): where to sample from after a draft token was rejected (Leviathan et al., 2023)."""
    ids, inverse = np.unique(np.concatenate([p.ids, q.ids]), return_inverse=True)
    diff = np.zeros(len(ids))
    np.add.at(diff, inverse[: len(p.ids)], p.probs)
    np.add.at(diff, inverse[len(p.ids):], -q.probs)
    diff[diff < 1e-6] = 0.0  # negative, or float32 rounding where p and q agree (a bias below 1e-6)
    total = diff.sum()
    if total <= 0.0:  # p == q: a rejection had probability 0; p itself is the right fallback
        return p
    nz = diff > 0
    ids, diff = ids[nz], diff[nz] / total
    order = np.argsort(-diff, kind="stable")
    return Distribution(ids[order], diff[order])


def top_probability(logits: np.ndarray) -> float:
    """Softmax maximum of a raw logits row: the draft's confidence, for p-min."""
    m = float(logits.max())
    return 1.0 / float(np.exp(logits - m, dtype=np.float64).sum())


def make_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(None if seed < 0 else seed)
