"""The response cache's invalidation, in memory: the shared generation table, tokens, bypass.

Two caches on one generation table stand for two workers of an instance
(the table is the real shared mapping the parent creates, mapped twice).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator

import pytest
from twisted.internet.task import Clock

from chinook_svc.restless import Reply, ResponseCache, SharedGenerations, create_table
from chinook_svc.restless._representation import Representation


def answer(text: str) -> Representation:
    """A cacheable representation with body ``text``."""
    return Representation.of(Reply(200, text.encode(), (), None))


@pytest.fixture
def table() -> Iterator[int]:
    """A two-slot generation table's descriptor (closed afterwards)."""
    fd = create_table(2)
    yield fd
    os.close(fd)


def two_workers(fd: int, clock: Clock) -> tuple[ResponseCache, ResponseCache]:
    """Two caches sharing the table at ``fd``, in slots 0 and 1."""
    return (
        ResponseCache(clock, 30, generations=SharedGenerations.from_descriptor(fd, 2, 0)),
        ResponseCache(clock, 30, generations=SharedGenerations.from_descriptor(fd, 2, 1)),
    )


def test_a_write_in_one_worker_empties_the_others(table: int) -> None:
    """Worker 0's write makes worker 1 forget its entries at its next lookup."""
    first, second = two_workers(table, Clock())
    for cache in (first, second):
        cache.put("k", answer("old"), cache.token())
        assert cache.get("k") is not None
    first.invalidate()
    assert first.get("k") is None and second.get("k") is None
    assert (second.hits, second.misses, second.invalidations) == (1, 1, 1)


def test_an_answer_computed_across_a_write_is_not_kept(table: int) -> None:
    """A token taken before another worker's write refuses the store afterwards."""
    first, second = two_workers(table, Clock())
    token = second.token()
    first.invalidate()
    second.put("k", answer("maybe old"), token)
    assert len(second) == 0
    second.put("k", answer("new"), second.token())
    assert len(second) == 1


def test_slots_have_one_writer_each(table: int) -> None:
    """Bumps of both workers all count: neither overwrites the other's."""
    first = SharedGenerations.from_descriptor(table, 2, 0)
    second = SharedGenerations.from_descriptor(table, 2, 1)
    for _ in range(3):
        first.bump()
    second.bump()
    snapshot = first.snapshot()
    assert snapshot == second.snapshot()
    assert (int.from_bytes(snapshot[:8], "little"), int.from_bytes(snapshot[8:], "little")) == (
        3,
        1,
    )


def test_a_restarted_worker_continues_its_slot(table: int) -> None:
    """A new mapping of the same slot counts on from where the old one stopped."""
    SharedGenerations.from_descriptor(table, 2, 1).bump()
    again = SharedGenerations.from_descriptor(table, 2, 1)
    before = again.snapshot()
    again.bump()
    assert again.snapshot() != before and before[8:] != bytes(8)


def test_expire_and_unavailable_bypass() -> None:
    """A watcher's expiry empties the cache; while unavailable, nothing is served or kept."""
    cache = ResponseCache(Clock(), 30)
    token = cache.token()
    cache.put("k", answer("a"), token)
    cache.expire()
    assert cache.get("k") is None
    cache.put("k", answer("a"), token)  # taken before the expiry
    assert len(cache) == 0
    cache.set_available(False)
    cache.put("k", answer("a"), cache.token())
    assert cache.get("k") is None and cache.bypassed == 1 and len(cache) == 0
    token = cache.token()
    cache.set_available(True)
    cache.put("k", answer("a"), token)  # taken while unavailable
    assert len(cache) == 0
    cache.put("k", answer("a"), cache.token())
    assert cache.get("k") is not None


def test_ttl_and_room_evictions_are_counted() -> None:
    """Entries past their TTL and entries dropped for room count as evictions."""
    clock = Clock()
    cache = ResponseCache(clock, 5, max_entries=2)
    for key in "abc":
        cache.put(key, answer(key), cache.token())
    assert len(cache) == 2 and cache.evictions == 1
    clock.advance(5)
    assert cache.get("b") is None and cache.evictions == 2


def test_bad_slots_are_refused() -> None:
    """A slot outside the table is a programming error."""
    with pytest.raises(ValueError, match="out of range"):
        SharedGenerations(mmap.mmap(-1, 8), 1, 1)
