"""The endpoints. Request handling follows decisions.md step by step."""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from api.errors import ReadModelUnavailable
from api.params import bearer_token, page_number, page_size, positive_int
from api.responses import error, json_response, page_body
from api.schemas import ErrorBody, Health, UpcomingMeetings
from api.store import Denial, RedisPageReader

logger = logging.getLogger(__name__)
router = APIRouter()

BAD_SERIES = "Parameter meeting_series_id must be a positive integer"
UNAVAILABLE = "Service Unavailable"


def unavailable(request: Request) -> Response:
    retry_after = str(request.app.state.settings.retry_after_s)
    return error(503, UNAVAILABLE, {"Retry-After": retry_after})


@router.get(
    "/api/v2/organizations/{organization_id}/upcoming_meetings",
    summary="An organization's upcoming meetings",
    response_model=UpcomingMeetings,
    responses={
        401: {"model": ErrorBody, "description": '"Unauthorized Access" or "Not Authorized"'},
        422: {"model": ErrorBody, "description": "meeting_series_id is not a positive integer"},
        503: {"model": ErrorBody, "description": "The read model is unreachable; see Retry-After"},
    },
    openapi_extra={"security": [{"bearerAuth": []}]},
)
async def upcoming_meetings(
    request: Request,
    organization_id: Annotated[str, Path(description="The organization's id.")],
    meeting_series_id: Annotated[
        str | None,
        Query(description="Only meetings of this recurring series (a positive integer)."),
    ] = None,
    page: Annotated[str | None, Query(description="Page number, 1-indexed. Default 1.")] = None,
    items: Annotated[
        str | None, Query(description="Items per page, clamped to 1..100. Default 20.")
    ] = None,
) -> Response:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        return error(401, Denial.UNKNOWN_TOKEN.value)
    series_id = None if meeting_series_id is None else positive_int(meeting_series_id)
    bad_series = meeting_series_id is not None and series_id is None
    size, number = page_size(items), page_number(page)

    reader: RedisPageReader = request.app.state.reader
    try:
        result = await reader.page(
            positive_int(organization_id),
            token,
            series_id,
            now_ms=time.time_ns() // 1_000_000,
            offset=(number - 1) * size,
            limit=0 if bad_series else size,  # only the token check
        )
    except ReadModelUnavailable as exc:
        logger.warning("read model unavailable: %s", exc)
        return unavailable(request)
    if isinstance(result, Denial):
        return error(401, result.value)
    if bad_series:
        return error(422, BAD_SERIES)
    return json_response(page_body(number, size, result.total_items, result.meetings))


@router.get("/healthz", summary="The process is alive", response_model=Health)
async def healthz() -> Response:
    return json_response(b'{"status":"ok"}')


@router.get(
    "/readyz",
    summary="The read model is reachable and being served",
    response_model=Health,
    responses={503: {"model": ErrorBody}},
)
async def readyz(request: Request) -> Response:
    reader: RedisPageReader = request.app.state.reader
    try:
        generation = await reader.ready()
    except ReadModelUnavailable as exc:
        logger.warning("not ready: %s", exc)
        return unavailable(request)
    return json_response(b'{"status":"ready","generation":"%s"}' % generation.encode())
