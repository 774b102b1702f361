"""Response bodies: built as bytes, in the documented field order."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import orjson
from starlette.responses import Response

JSON = "application/json"
UNAVAILABLE = "Service Unavailable"  # the 503 body's message, whatever is missing


def page_body(current_page: int, items: int, total_items: int, meetings: bytes) -> bytes:
    total_pages = -(-total_items // items)
    return b'{"current_page":%d,"items":%d,"total_items":%d,"total_pages":%d,"meetings":[%b]}' % (
        current_page,
        items,
        total_items,
        total_pages,
        meetings,
    )


def json_response(
    body: bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(body, status_code=status, media_type=JSON, headers=headers)


# An answer depends on the token, and changes whenever the read model does or a
# meeting ends: caches must revalidate every time. A strong ETag, the hash of
# the exact body, makes revalidation cheap and is valid exactly as long as the
# answer is.
PAGE_CACHE_CONTROL = "private, no-cache"


def entity_tag(body: bytes) -> str:
    """128 bits of the body's SHA-256: computed for every uncached answer, and
    SHA-256 runs on the CPU's SHA instructions where it has them (x86 SHA-NI,
    ARMv8), several times faster than BLAKE2b on a page's bytes there."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def if_none_match(header: str | None, tag: str) -> bool:
    """Whether ``If-None-Match`` matches ``tag`` (weak comparison; ``*`` matches all)."""
    if header is None:
        return False
    candidates = (candidate.strip() for candidate in header.split(","))
    return any(c == "*" or c.removeprefix("W/") == tag for c in candidates)


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(orjson.dumps({"error": message}), status, headers)
