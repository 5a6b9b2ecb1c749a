"""Placement strategies, pure: no server needed."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from redlua.stateful.placement import (
    BoundedLoadRendezvous,
    Candidate,
    LeastLoad,
    PowerOfTwoChoices,
    rendezvous_score,
)


def test_least_load_picks_the_minimum_and_breaks_ties_at_random() -> None:
    """LeastLoad picks the lightest pod; equal pods share new UIDs instead of one taking all."""
    strategy = LeastLoad(random.Random(1))
    pods = [Candidate(0, 5), Candidate(1, 2), Candidate(2, 2), Candidate(3, 9)]
    picks = Counter(strategy.choose(f"u{i}", pods) for i in range(400))
    assert set(picks) == {1, 2}
    assert min(picks.values()) > 120


def test_full_pods_are_never_chosen() -> None:
    """A pod at its capacity is skipped by every strategy; all full means None."""
    pods = [Candidate(0, 10, capacity=10), Candidate(1, 50, capacity=100)]
    for strategy in (LeastLoad(), PowerOfTwoChoices(), BoundedLoadRendezvous()):
        assert strategy.choose("u", pods) == 1
        assert strategy.choose("u", [Candidate(0, 3, capacity=3)]) is None
        assert strategy.choose("u", []) is None


def test_power_of_two_choices_prefers_the_lighter_of_two() -> None:
    """P2C never picks the heaviest of three pods (it always loses its pair)."""
    strategy = PowerOfTwoChoices(random.Random(7))
    pods = [Candidate(0, 1), Candidate(1, 2), Candidate(2, 100)]
    picks = Counter(strategy.choose(f"u{i}", pods) for i in range(300))
    assert picks[2] == 0
    assert picks[0] > picks[1] > 0


def test_rendezvous_is_sticky() -> None:
    """The same UID over the same pods lands on the same pod, whatever the order given."""
    strategy = BoundedLoadRendezvous()
    pods = [Candidate(p, 10) for p in range(8)]
    for uid in ("alice", "bob", "u-42"):
        first = strategy.choose(uid, pods)
        assert strategy.choose(uid, list(reversed(pods))) == first


def test_rendezvous_moves_few_uids_when_a_pod_joins() -> None:
    """Adding a ninth pod moves about 1/9 of the UIDs, not all of them."""
    strategy = BoundedLoadRendezvous(c=10)  # a loose bound isolates the hashing
    before = [Candidate(p, 0) for p in range(8)]
    after = [*before, Candidate(8, 0)]
    uids = [f"user-{i}" for i in range(2000)]
    moved = sum(strategy.choose(u, before) != strategy.choose(u, after) for u in uids)
    assert 120 < moved < 330  # expected 2000/9 = 222


def test_rendezvous_respects_the_load_bound() -> None:
    """Placing 1000 UIDs one by one, no pod exceeds ceil(c * mean) at any step."""
    strategy = BoundedLoadRendezvous(c=1.25)
    loads = dict.fromkeys(range(6), 0)
    for i in range(1000):
        pod = strategy.choose(f"u{i}", [Candidate(p, n) for p, n in loads.items()])
        assert pod is not None
        loads[pod] += 1
        mean = sum(loads.values()) / len(loads)
        assert max(loads.values()) <= math.ceil(1.25 * mean) + 1
    assert max(loads.values()) <= 1.25 * 1000 / 6 + 1


def test_rendezvous_score_is_stable() -> None:
    """Scores depend only on (uid, pod): every process computes the same order."""
    assert rendezvous_score("u", 3) == rendezvous_score("u", 3)
    assert rendezvous_score("u", 3) != rendezvous_score("u", 4)


def test_bad_bound() -> None:
    """A bound factor of 1 or less cannot place anything: refused."""
    with pytest.raises(ValueError, match="c must be"):
        BoundedLoadRendezvous(c=1)
