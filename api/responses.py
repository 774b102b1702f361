"""Response bodies: built as bytes, in the documented field order."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.responses import Response

JSON = "application/json"


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


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(orjson.dumps({"error": message}), status, headers)
