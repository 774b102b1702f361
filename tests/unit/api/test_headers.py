"""Every response of the app says ``nosniff`` once and names no server (``api/headers.py``).

The app as the server runs it, without its lifespan (so without Redis): the
requests below are those answered without the read model, one of each kind
of answerer (the lists, FastAPI's routes and errors, the widget, CORS).
"""

from __future__ import annotations

import httpx
import pytest

from api.app import Api, create_app
from api.settings import ApiSettings

PARTNER = "https://partner.example"
LIST = "/api/v2/organizations/5/upcoming_meetings"
PREFLIGHT = {
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "authorization",
}


@pytest.fixture
def app() -> Api:
    return create_app(
        ApiSettings(
            REDIS_URL="redis://127.0.0.1:1/0",
            demo_organization_id=5,
            demo_token="public",
            cors_origins=PARTNER,
        )
    )


REQUESTS = [
    ("GET", LIST, {}, 401),
    ("GET", "/api/v2/organizations/5/members/7/upcoming_meetings", {}, 401),
    ("GET", LIST, {"Origin": PARTNER}, 401),
    ("OPTIONS", LIST, {"Origin": PARTNER, **PREFLIGHT}, 200),
    ("OPTIONS", LIST, {"Origin": "https://evil.example", **PREFLIGHT}, 400),
    ("GET", "/healthz", {}, 200),
    ("GET", "/metrics", {}, 200),
    ("GET", "/openapi.json", {}, 200),
    ("GET", "/docs", {}, 200),
    ("GET", "/widget/upcoming-sessions.js", {}, 200),
    ("GET", "/demo", {}, 200),
    ("GET", "/nowhere", {}, 404),
    ("POST", "/healthz", {}, 405),
    ("POST", LIST, {}, 405),
    ("GET", "/readyz", {}, 503),  # no lifespan, no reader: an unexpected error
]


@pytest.mark.parametrize(("method", "path", "headers", "status"), REQUESTS, ids=str)
async def test_every_response_says_nosniff_once_and_names_no_server(
    app: Api, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.request(method, path, headers=headers)
    assert response.status_code == status
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    assert "server" not in response.headers


async def test_a_304_says_nosniff_too(app: Api) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        script = await client.get("/widget/upcoming-sessions.js")
        again = await client.get(script.url, headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    assert again.headers.get_list("x-content-type-options") == ["nosniff"]
