"""The engine's pieces on their own: sampler transforms, residual, n-gram lookup, stop strings, `auto` k."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from app.core.draft_length import DraftLength
from app.core.drafting import NgramDrafter
from app.core.sampling import SamplerParams, distribution, point_mass, residual, top_probability
from app.core.stop_strings import StopStringFilter


def test_transforms_follow_llama_cpp_order():
    logits = np.array([2.0, 1.0, 0.5, 0.0, -1.0, -3.0], dtype=np.float32)
    d = distribution(logits, SamplerParams(temperature=1.0, top_k=4, top_p=1.0, min_p=0.0), [])
    assert list(d.ids) == [0, 1, 2, 3]
    ref = np.exp(logits[:4] - 2.0)
    assert np.allclose(d.probs, ref / ref.sum())
    # top-p keeps the smallest prefix reaching p of the untempered probabilities; temperature comes after
    d = distribution(logits, SamplerParams(temperature=2.0, top_k=0, top_p=0.6, min_p=0.0), [])
    assert list(d.ids) == [0, 1]
    ref = np.exp(np.array([2.0, 1.0]) / 2.0)
    assert np.allclose(d.probs, ref / ref.sum())
    # min-p: at least min_p times the top probability
    d = distribution(logits, SamplerParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.2), [])
    assert list(d.ids) == [0, 1, 2]
    # repetition penalty: positive logits divided, negative multiplied; the input row is not modified
    d = distribution(logits, SamplerParams(temperature=1.0, top_k=2, top_p=1.0, min_p=0.0,
                                           repeat_penalty=3.0), [0])
    assert list(d.ids) == [1, 0] and logits[0] == 2.0


def test_residual_is_the_normalized_positive_part():
    p = distribution(np.log(np.array([0.5, 0.3, 0.2], dtype=np.float32)),
                     SamplerParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0), [])
    q = distribution(np.log(np.array([0.2, 0.6, 0.2], dtype=np.float32)),
                     SamplerParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0), [])
    r = residual(p, q)
    assert list(r.ids) == [0] and np.allclose(r.probs, [1.0])
    r = residual(p, point_mass(0))  # an n-gram draft rejected: p without it
    assert list(r.ids) == [1, 2] and np.allclose(r.probs, [0.6, 0.4])
    assert residual(p, p) is p


def test_top_probability():
    assert top_probability(np.zeros(4, dtype=np.float32)) == pytest.approx(0.25)


def test_ngram_lookup_proposes_what_followed_the_latest_match():
    d = NgramDrafter(3)
    d.begin([5, 6, 7, 8, 9, 5, 6, 7, 1, 2])
    # suffix (6, 7) + last 8? no: the text is ..., 1, 2 and last = 5: the 1-gram (5) last occurred at 5 -> 6 7 1
    assert d.propose(5, 3, [], None, None, 0.0)[0] == [6, 7, 1]
    d.commit(5, [6, 7, 1], 2)  # text: ... 1 2 5 6 7; last token next round
    # the longest match wins: (6, 7, 8)? the text ends 5 6 7 and last = 8 -> (7, 8) occurred at 2..3 -> 9 5 6
    drafts, qs = d.propose(8, 3, [], SamplerParams(temperature=1.0), np.random.default_rng(0), 0.0)
    assert drafts == [9, 5, 6] and qs is not None and [q.prob(t) for q, t in zip(qs, drafts)] == [1, 1, 1]
    assert d.propose(99, 3, [], None, None, 0.0)[0] == []
    with pytest.raises(ValueError):
        NgramDrafter(0)


@dataclass(frozen=True)
class Ev:
    text: str


def run_filter(stops, pieces):
    f = StopStringFilter(stops)
    out = [e.text for p in pieces for e in f.push(Ev(p))]
    if not f.stopped:
        out += [e.text for e in f.flush()]
    return out, f.stopped


def test_stop_strings_hold_back_only_possible_starts():
    assert run_filter(["\nUser:"], ["Hi", " there", "\n", "Us", "er", ":", " more"]) == (["Hi", " there"], True)
    # a partial match that does not complete is released
    assert run_filter(["\nUser:"], ["a", "\n", "Use", "ful"]) == (["a", "\n", "Use", "ful"], False)
    # the stop string inside one piece: the text before it survives
    assert run_filter(["STOP"], ["abcSTOPdef"]) == (["abc"], True)
    assert run_filter([], ["x"]) == (["x"], False)


def test_auto_draft_length_takes_the_speedup_where_it_exists():
    c = DraftLength(k=4, auto=True)
    for first in (0.5, 0.010, 0.010):  # measures plain steps first; the first one (one-time costs) is ignored
        assert c.next() == 0
        c.record(0, 0, 0.0, first)
    assert c.verify_s[1] == 0.010
    assert c.next() == 4
    chosen = []
    for _ in range(64):  # cheap draft (1 ms/token), verify barely grows with rows, everything accepted
        k = c.next()
        chosen.append(k)
        c.record(k, k, 0.001 * k, 0.010 + 0.0005 * k)
    assert c.next() >= 8 and c.acceptance == 1.0
    assert chosen.count(0) == 1  # a plain round every 32 drafting rounds keeps the plain cost current


def test_auto_draft_length_stops_drafting_when_it_does_not_pay_and_probes_rarely():
    c = DraftLength(k=4, auto=True)
    chosen = []
    for _ in range(400):  # launch-bound GPU: a draft step costs as much as the main step, verify doubles
        k = c.next()
        chosen.append(k)
        c.record(k, k, 0.001 * k, 0.001 if k == 0 else 0.002)
    assert chosen[-1] == 0
    assert sum(1 for k in chosen if k) <= 8  # the first measurements and a few probes at growing gaps
