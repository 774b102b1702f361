"""How the lists store a meeting's document: its JSON, with common parts as one byte.

A document is ~470 bytes of JSON, ~200 of them its keys. The lists store it
with each of ``WORDS`` (the keys, the default avatar, the product's own avatar
host, the locations, the usual endings of times and durations) as one control
byte, ``\\x01`` for the first word and so on: about 40% of its size, which is
most of what a meeting costs in Redis.

JSON text never holds a raw control byte (they are escaped inside strings, and
there is no whitespace outside them), so every control byte of a stored
document stands for its word: ``expand(compact(json)) == json`` for all JSON,
whatever the words are, and ``expand`` leaves plain JSON as it is. The read
scripts return stored documents as they are; the API expands a page once, when
it renders the page's body (``readmodel.reader.RedisPageReader``). The projector's
scripts touch one thing inside a stored document, its count (``COUNT_AT``,
``readmodel/lua/list_entries.lua``).
"""

from __future__ import annotations

DEFAULT_AVATAR = "https://ssl.gstatic.com/accounts/ui/avatar_2x.png"
"""A group leader's avatar when the event has none (docs/decisions.md)."""

WORDS: tuple[bytes, ...] = (
    b'{"id":',
    b',"name":',
    b',"start_time":',
    b',"end_time":',
    b',"duration":',
    b',"duration_in_minutes":',
    b',"topic":',
    b',"description":',
    b',"location":',
    b',"meeting_series_id":',
    b',"max_attendees":',
    b',"registered_attendees":',
    b',"group_leader":{"id":',
    b',"avatar":',
    b'"' + DEFAULT_AVATAR.encode() + b'"',
    b'"https://heypeers-assets.s3.amazonaws.com/users/avatars/thumb/',
    b'"heypeers"',
    b'"zoom"',
    b':00.000Z"',
    b' minutes"',
    b" hour",
)
assert len(WORDS) < 32, "one control byte per word"

COUNT_AT = bytes([WORDS.index(b',"registered_attendees":') + 1])
"""Where a stored document's registered_attendees begins; its digits follow."""

_BYTES = [(word, bytes([i])) for i, word in enumerate(WORDS, 1)]
# Longest first, so that no word is taken out of a longer one that holds it
# ('{"id":' of ',"group_leader":{"id":').
_COMPACTING = sorted(_BYTES, key=lambda pair: -len(pair[0]))


def compact(text: bytes) -> bytes:
    """JSON (or a part of it that does not split a word) as the lists store it."""
    for word, byte in _COMPACTING:
        text = text.replace(word, byte)
    return text


def expand(stored: bytes) -> bytes:
    """Stored documents (one, or several joined) as JSON."""
    for word, byte in _BYTES:
        stored = stored.replace(byte, word)
    return stored
