"""The API's routes: the two lists as a table, and FastAPI's router for the rest.

Each list endpoint is defined once, as a ``ListRoute`` of ``LIST_ROUTES``:
``api/lists.py`` serves it (a GET of a path that matches its template never
reaches FastAPI) and ``api/openapi.py`` documents it, from the same entry.
Health, metrics, the widget and the OpenAPI pages are FastAPI routes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from api.metrics import metrics_response
from api.responses import UNAVAILABLE, error, json_response
from api.schemas import ErrorBody, Health, UpcomingMeetings
from readmodel.errors import ReadModelUnavailable
from readmodel.reader import RedisHeartbeats, RedisPageReader

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True, slots=True)
class Parameter:
    """A parameter of a list, as the OpenAPI document describes it.

    The endpoint reads and checks it itself (``api/params.py``): ``pattern``
    documents what it accepts, FastAPI never enforces it.
    """

    name: str
    location: Literal["path", "query", "header"]
    description: str
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class ListRoute:
    """One list endpoint: where it is served and what its OpenAPI operation says.

    ``path`` is the template: the route's label in the metrics and its path in
    the document. ``pattern`` matches the paths of the template, a segment per
    ``{parameter}``, captured in order. The operation id is derived from
    ``name`` as FastAPI derives those of its own routes.
    """

    path: str
    name: str
    summary: str
    parameters: tuple[Parameter, ...]
    description: str | None = None
    response_model: type[BaseModel] = UpcomingMeetings
    # Other statuses, in the form of FastAPI's ``responses`` argument.
    errors: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        placeholders = _PLACEHOLDER.findall(self.path)
        declared = [p.name for p in self.parameters if p.location == "path"]
        if placeholders != declared:
            raise ValueError(f"{self.path}: path parameters {declared} != {placeholders}")
        object.__setattr__(self, "pattern", path_pattern(self.path))


def path_pattern(template: str) -> re.Pattern[str]:
    """The paths of ``template``: each ``{parameter}`` one non-empty segment, a group."""
    parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, ..., literal
    return re.compile("".join("([^/]+)" if i % 2 else re.escape(p) for i, p in enumerate(parts)))


# What docs/decisions.md calls a positive integer: ASCII digits, at least 1,
# leading zeros allowed. The endpoint answers its own 422 otherwise.
POSITIVE_INTEGER = "^0*[1-9][0-9]*$"

ORGANIZATION_ID = Parameter("organization_id", "path", "The organization's id.")
MEMBER_ID = Parameter("member_id", "path", "The member's user id.", POSITIVE_INTEGER)
FILTERS = (
    Parameter(
        "meeting_series_id",
        "query",
        "Only meetings of this recurring series (a positive integer).",
        POSITIVE_INTEGER,
    ),
    Parameter("page", "query", "Page number, 1-indexed. Default 1."),
    Parameter("items", "query", "Items per page, clamped to 1..100. Default 20."),
    Parameter(
        "X-Consistency-Token",
        "header",
        "Answer only from a read model that has applied this position: comma-separated "
        "topic:partition:offset entries, as a Kafka producer gets them back for its records, "
        "or the X-Consistency-Token of an earlier answer (docs/consistency.md).",
    ),
    Parameter(
        "Prefer",
        "header",
        "wait=<seconds> (RFC 7240): wait at most this long for X-Consistency-Token's "
        "position, if less than the API's own bound; Preference-Applied says so.",
    ),
)
POSITION_HEADER = {
    "X-Consistency-Token": {
        "description": "The position of the read model the answer came from; send it back "
        "to never get an older answer",
        "schema": {"type": "string"},
    }
}
ERRORS: Mapping[int, Mapping[str, Any]] = {
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
    400: {
        "model": ErrorBody,
        "description": '"Invalid consistency token": X-Consistency-Token is not a list of '
        "topic:partition:offset entries of the read model's topics (at most 1,000, 8 KB)",
    },
    503: {
        "model": ErrorBody,
        "description": "The read model is unreachable, or has not applied X-Consistency-Token's "
        "position within the wait; see Retry-After, and X-Consistency-Token for the position "
        "reached",
        "headers": {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}},
            **POSITION_HEADER,
        },
    },
}

ORGANIZATION_LIST = ListRoute(
    "/api/v2/organizations/{organization_id}/upcoming_meetings",
    name="upcoming_meetings",
    summary="An organization's upcoming meetings",
    parameters=(ORGANIZATION_ID, *FILTERS),
    errors=ERRORS,
)
MEMBER_LIST = ListRoute(
    "/api/v2/organizations/{organization_id}/members/{member_id}/upcoming_meetings",
    name="member_upcoming_meetings",
    summary="A member's upcoming meetings in an organization",
    description="The meetings of the organization's list (EAP meetings included) that the "
    "member has an active registration for or leads (group leader or co-leader).",
    parameters=(ORGANIZATION_ID, MEMBER_ID, *FILTERS),
    errors=ERRORS,
)
# Matched in this order. Both answer ``ListEndpoints.respond(scope,
# organization_id, member_id)``: the path parameters are those two, in order.
LIST_ROUTES = (ORGANIZATION_LIST, MEMBER_LIST)


# -- FastAPI's routes ---------------------------------------------------------------

router = APIRouter()


def unavailable(request: Request) -> Response:
    retry_after = str(request.app.state.settings.retry_after_s)
    return error(503, UNAVAILABLE, {"Retry-After": retry_after})


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
