"""``AnswerCache``: answers of the two list endpoints, kept in process.

An entry is only ever served while it is exactly what Redis would answer:

- every write to an organization's keys (``{o<org>}``: lists, documents,
  tokens) drops that organization's entries and token grants, as soon as
  ``api/tracking.py`` hears of it (Redis client-side caching invalidation);
- an entry expires at the first instant its answer would change by time
  alone: the earliest ``end_time`` after the read among the organization's
  meetings (any one of them ending changes ``total_items``);
- a fill races with invalidations: ``epoch(org)`` is taken before the Redis
  read and ``put`` stores nothing if an invalidation of that organization (or
  a flush) arrived meanwhile;
- ``flush`` empties everything (tracking lost, generation changed).

Denials are never cached; a token is remembered as granted for an
organization only after Redis granted it, until that organization's next write.
Bounded by entries and bytes; the oldest entries go first.
"""

from __future__ import annotations

from dataclasses import dataclass

# organization, member (None: the organization's list), series, page, page size
Key = tuple[int, int | None, int | None, int, int]
Epoch = tuple[int, int]

_NEVER = float("inf")


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    etag: bytes  # the strong entity tag, quoted, as sent
    since_ms: int  # the now_ms of the read that answered it
    expires_ms: float  # the answer holds while since_ms <= now_ms < expires_ms


class AnswerCache:
    def __init__(self, max_entries: int = 10_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._answers: dict[Key, Answer] = {}
        self._keys_of: dict[int, set[Key]] = {}  # organization -> its keys in _answers
        self._granted: dict[int, set[str]] = {}  # organization -> token hashes granted
        self._bytes = 0
        self.hits = 0
        self._flushes = 0
        self._org_epochs: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._answers)

    # -- reads ------------------------------------------------------------------

    def granted(self, org: int, token_sha: str) -> bool:
        tokens = self._granted.get(org)
        return tokens is not None and token_sha in tokens

    def get(self, key: Key, now_ms: int) -> Answer | None:
        answer = self._answers.get(key)
        if answer is None:
            return None
        if answer.since_ms <= now_ms < answer.expires_ms:
            self.hits += 1
            return answer
        if now_ms >= answer.expires_ms:
            self._remove(key)
        return None

    # -- fills ------------------------------------------------------------------

    def epoch(self, org: int) -> Epoch:
        """Take before reading Redis; hand to ``put``/``grant`` after."""
        return self._flushes, self._org_epochs.get(org, 0)

    def grant(self, org: int, token_sha: str, epoch: Epoch) -> bool:
        if epoch != self.epoch(org):
            return False
        self._granted.setdefault(org, set()).add(token_sha)
        return True

    def put(
        self,
        key: Key,
        body: bytes,
        etag: bytes,
        now_ms: int,
        expires_ms: int | None,
        epoch: Epoch,
    ) -> bool:
        """Store an answer read after ``epoch`` was taken, unless invalidated since."""
        org = key[0]
        size = len(body) + len(etag)
        if epoch != self.epoch(org) or size > self.max_bytes:
            return False
        if key in self._answers:
            self._remove(key)
        while self._answers and (
            len(self._answers) >= self.max_entries or self._bytes + size > self.max_bytes
        ):
            self._remove(next(iter(self._answers)))  # the oldest
        expires = _NEVER if expires_ms is None else expires_ms
        self._answers[key] = Answer(body, etag, now_ms, expires)
        self._keys_of.setdefault(org, set()).add(key)
        self._bytes += size
        return True

    # -- invalidation -----------------------------------------------------------

    def invalidate(self, org: int) -> None:
        """Something of the organization was written: forget all of it."""
        self._org_epochs[org] = self._org_epochs.get(org, 0) + 1
        self._granted.pop(org, None)
        for key in self._keys_of.pop(org, ()):
            answer = self._answers.pop(key)
            self._bytes -= len(answer.body) + len(answer.etag)

    def flush(self) -> None:
        self._flushes += 1
        self._org_epochs.clear()
        self._answers.clear()
        self._keys_of.clear()
        self._granted.clear()
        self._bytes = 0

    def _remove(self, key: Key) -> None:
        answer = self._answers.pop(key)
        self._bytes -= len(answer.body) + len(answer.etag)
        keys = self._keys_of[key[0]]
        keys.discard(key)
        if not keys:
            del self._keys_of[key[0]]
