"""The endpoints. Request handling follows docs/decisions.md step by step."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from api.hot import HotRoutes
from api.metrics import metrics_response
from api.responses import UNAVAILABLE, error, json_response
from api.schemas import ErrorBody, Health, UpcomingMeetings
from readmodel.errors import ReadModelUnavailable
from readmodel.reader import RedisHeartbeats, RedisPageReader

logger = logging.getLogger(__name__)
router = APIRouter()


def unavailable(request: Request) -> Response:
    retry_after = str(request.app.state.settings.retry_after_s)
    return error(503, UNAVAILABLE, {"Retry-After": retry_after})


# What docs/decisions.md calls a positive integer: ASCII digits, at least 1, leading
# zeros allowed. Documented, not enforced by FastAPI: the API answers its own 422.
POSITIVE_INTEGER = {"pattern": "^0*[1-9][0-9]*$"}

SeriesQuery = Annotated[
    str | None,
    Query(
        description="Only meetings of this recurring series (a positive integer).",
        json_schema_extra=POSITIVE_INTEGER,
    ),
]
PageQuery = Annotated[str | None, Query(description="Page number, 1-indexed. Default 1.")]
ItemsQuery = Annotated[
    str | None, Query(description="Items per page, clamped to 1..100. Default 20.")
]
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": '"Unauthorized Access" or "Not Authorized"'},
    422: {"model": ErrorBody, "description": "a parameter is not a positive integer"},
    429: {
        "model": ErrorBody,
        "description": '"Too Many Requests": this client failed authentication too often '
        "lately and is blocked, whatever its token; see Retry-After",
        "headers": {
            "Retry-After": {
                "description": "Seconds until the block ends",
                "schema": {"type": "integer"},
            }
        },
    },
    503: {"model": ErrorBody, "description": "The read model is unreachable; see Retry-After"},
}


@router.get(
    "/api/v2/organizations/{organization_id}/upcoming_meetings",
    summary="An organization's upcoming meetings",
    response_model=UpcomingMeetings,
    responses=ERRORS,
    openapi_extra={"security": [{"bearerAuth": []}]},
)
async def upcoming_meetings(
    request: Request,
    organization_id: Annotated[str, Path(description="The organization's id.")],
    meeting_series_id: SeriesQuery = None,
    page: PageQuery = None,
    items: ItemsQuery = None,
) -> Response:
    return await answer(request, organization_id, None, meeting_series_id, page, items)


@router.get(
    "/api/v2/organizations/{organization_id}/members/{member_id}/upcoming_meetings",
    summary="A member's upcoming meetings in an organization",
    description="The meetings of the organization's list (EAP meetings included) that the "
    "member has an active registration for or leads (group leader or co-leader).",
    response_model=UpcomingMeetings,
    responses=ERRORS,
    openapi_extra={"security": [{"bearerAuth": []}]},
)
async def member_upcoming_meetings(
    request: Request,
    organization_id: Annotated[str, Path(description="The organization's id.")],
    member_id: Annotated[
        str, Path(description="The member's user id.", json_schema_extra=POSITIVE_INTEGER)
    ],
    meeting_series_id: SeriesQuery = None,
    page: PageQuery = None,
    items: ItemsQuery = None,
) -> Response:
    return await answer(request, organization_id, member_id, meeting_series_id, page, items)


async def answer(
    request: Request,
    organization_id: str,
    member_id: str | None,
    meeting_series_id: str | None,
    page: str | None,
    items: str | None,
) -> Response:
    """Both lists, as ``api/hot.py`` answers them (which serves every GET of them).

    The parameters are declared for the OpenAPI document; ``hot`` reads them
    from the request itself.
    """
    hot: HotRoutes = request.app.state.hot
    status, headers, body = await hot.respond(request.scope, organization_id, member_id)
    response = Response(body, status_code=status)
    response.raw_headers = headers
    return response


@router.get("/healthz", summary="The process is alive", response_model=Health)
async def healthz() -> Response:
    return json_response(b'{"status":"ok"}')


@router.get("/metrics", summary="Prometheus metrics of this process", include_in_schema=False)
async def metrics() -> Response:
    return metrics_response()


@router.get(
    "/readyz",
    summary="The read model is reachable, served and (if configured) kept fresh",
    response_model=Health,
    responses={503: {"model": ErrorBody}},
)
async def readyz(request: Request) -> Response:
    reader: RedisPageReader = request.app.state.reader
    heartbeats: RedisHeartbeats | None = request.app.state.heartbeats
    try:
        generation = await reader.ready()
        if heartbeats is not None and not await heartbeats.fresh():
            raise ReadModelUnavailable("no projector worker has reported lately, or all stalled")
    except ReadModelUnavailable as exc:
        logger.warning("not ready: %s", exc)
        return unavailable(request)
    return json_response(b'{"status":"ready","generation":"%s"}' % generation.encode())
