"""``AnswerCache``: bounds, expiry, invalidation and the fill race (no Redis)."""

from __future__ import annotations

from api.cache import AnswerCache, Key
from readmodel.keys import organization_of

KEY: Key = (5, None, None, 1, 20)


def test_an_answer_holds_from_its_read_until_the_next_end() -> None:
    cache = AnswerCache()
    assert cache.put(KEY, b"body", b'"t"', 1000, 2000, cache.epoch(5))

    assert cache.get(KEY, 999) is None  # before the read: not this answer
    assert cache.get(KEY, 1000) is not None
    assert cache.get(KEY, 1999) is not None
    assert cache.get(KEY, 2000) is None  # a meeting ended
    assert len(cache) == 0


def test_no_next_end_holds_until_invalidated() -> None:
    cache = AnswerCache()
    cache.put(KEY, b"body", b'"t"', 1000, None, cache.epoch(5))
    cache.grant(5, "sha", cache.epoch(5))
    cache.put((6, None, None, 1, 20), b"other", b'"u"', 1000, None, cache.epoch(6))
    assert cache.get(KEY, 10**15) is not None

    cache.invalidate(5)

    assert cache.get(KEY, 1000) is None
    assert not cache.granted(5, "sha")
    assert cache.get((6, None, None, 1, 20), 1000) is not None


def test_a_fill_that_raced_an_invalidation_is_not_stored() -> None:
    cache = AnswerCache()
    epoch = cache.epoch(5)
    cache.invalidate(5)  # arrives while the read was out
    assert not cache.put(KEY, b"stale", b'"t"', 1000, None, epoch)
    assert not cache.grant(5, "sha", epoch)
    epoch = cache.epoch(5)
    cache.flush()
    assert not cache.put(KEY, b"stale", b'"t"', 1000, None, epoch)
    assert len(cache) == 0
    # Another organization's invalidation does not void the fill.
    epoch = cache.epoch(5)
    cache.invalidate(6)
    assert cache.put(KEY, b"fresh", b'"t"', 1000, None, epoch)


def test_bounded_by_entries_and_bytes_oldest_first() -> None:
    cache = AnswerCache(max_entries=2, max_bytes=100)
    for page in range(1, 4):
        cache.put((5, None, None, page, 20), b"x" * 10, b"t", 0, None, cache.epoch(5))
    assert [cache.get((5, None, None, p, 20), 0) is not None for p in (1, 2, 3)] == [
        False,
        True,
        True,
    ]
    cache.put((7, None, None, 1, 20), b"y" * 90, b"t", 0, None, cache.epoch(7))
    assert len(cache) == 1
    # 91 bytes held: 9 more fit, then one byte past the bound evicts the oldest.
    assert cache.put((8, None, None, 1, 20), b"z" * 8, b"t", 0, None, cache.epoch(8))
    assert len(cache) == 2
    cache.invalidate(8)  # gives its 9 bytes back
    assert cache.put((9, None, None, 1, 20), b"z" * 9, b"t", 0, None, cache.epoch(9))
    assert cache.get((7, None, None, 1, 20), 0) is None
    assert len(cache) == 1
    assert not cache.put((8, None, None, 1, 20), b"z" * 200, b"t", 0, None, cache.epoch(8))


def test_the_organization_of_a_key() -> None:
    assert organization_of(b"um:3:{o42}:start") == 42
    assert organization_of(b"um:3:{o42}:users") == 42
    assert organization_of(b"um:3:{m42}:r") is None
    assert organization_of(b"um:3:{o}:x") is None
