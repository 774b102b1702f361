"""Request parsing exactly as docs/decisions.md settles it: pure functions."""

from __future__ import annotations

import re

DEFAULT_ITEMS = 20
MAX_ITEMS = 100

# Python refuses to convert strings of more than 4300 digits, and converting
# long ones costs quadratic time: a value of more digits than this stands for
# 10**_MAX_DIGITS, which is past the end of any list and beyond any id.
_MAX_DIGITS = 4000
_HUGE = 10**_MAX_DIGITS

_INTEGER = re.compile(r"-?[0-9]+")
_DIGITS = re.compile(r"[0-9]+")
# HTTP's whitespace only: a header value is decoded as latin-1, and Python's
# ``\s`` and ``str.strip`` would also take U+0085 and U+00A0 (obs-text bytes).
_WHITESPACE = " \t"
_AUTHORIZATION = re.compile(r"[ \t]*([^ \t]+)(.*)", re.DOTALL)


def positive_int(text: str) -> int | None:
    """ASCII digits with a value of at least 1 (leading zeros allowed), else None."""
    if not _DIGITS.fullmatch(text):
        return None
    value = _to_int(text)
    return value if value >= 1 else None


def _to_int(text: str) -> int:
    """``int(text)`` for ``-?[0-9]+``, however many digits."""
    negative = text.startswith("-")
    digits = text.lstrip("-").lstrip("0") or "0"
    value = int(digits) if len(digits) <= _MAX_DIGITS else _HUGE
    return -value if negative else value


def _integer(text: str | None) -> int | None:
    if text is None or not _INTEGER.fullmatch(text):
        return None
    return _to_int(text)


def page_size(text: str | None) -> int:
    """``items``: an integer clamped to 1..100; absent or not an integer gives 20."""
    value = _integer(text)
    if value is None:
        return DEFAULT_ITEMS
    return min(max(value, 1), MAX_ITEMS)


def page_number(text: str | None) -> int:
    """``page``: an integer of at least 1 as given; anything else gives 1."""
    value = _integer(text)
    return value if value is not None and value >= 1 else 1


def bearer_token(authorization: str | None) -> str | None:
    """The token of a ``Bearer`` header (scheme case-insensitive), or None."""
    if authorization is None:
        return None
    match = _AUTHORIZATION.fullmatch(authorization)
    if match is None or match.group(1).lower() != "bearer":
        return None
    rest = match.group(2)
    if rest and rest[0] not in _WHITESPACE:
        return None  # "Bearerabc" is another scheme
    token = rest.strip(_WHITESPACE)
    return token or None
