"""The embeddable "Upcoming sessions" widget: its script, a demo page, and CORS.

``GET /widget/upcoming-sessions.js`` serves the custom element (``static/``),
``GET /demo`` a page that shows it for the demo organization of the settings
(``API_DEMO_ORGANIZATION_ID``, ``API_DEMO_TOKEN``, ``API_DEMO_SERIES_ID``), or
404 when none is configured. The demo token is written into the page: it must
be one meant to be public. ``cors_origins`` reads ``API_CORS_ORIGINS`` for the
app's CORS middleware, so that pages on other origins can call the endpoint.

The demo page's Content-Security-Policy (``demo_policy``) allows its own
origin's script and API, avatars over HTTPS, and its one inline style by
hash: nothing inline runs. The widget styles its shadow root with a
constructed stylesheet, which the policy does not govern; a browser without
constructable stylesheets would show the demo unstyled.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import re
from collections.abc import Iterable
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.responses import error

router = APIRouter(include_in_schema=False)

PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")
STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)

SCRIPT_CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=86400"


@functools.cache
def widget_script() -> tuple[bytes, str]:
    """The widget's source and its ETag, read from the package once."""
    body = files("api").joinpath("static", "upcoming-sessions.js").read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


@functools.cache
def demo_template() -> str:
    return files("api").joinpath("static", "demo.html").read_text(encoding="utf-8")


def source_hash(source: str) -> str:
    """A CSP source allowing the inline element whose content is ``source``."""
    digest = hashlib.sha256(source.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


@functools.cache
def demo_policy() -> str:
    """The demo page's Content-Security-Policy: the template's inline styles by hash.

    Raises ``ValueError`` if a style holds a placeholder: its hash would not
    be that of the page served."""
    styles = STYLE.findall(demo_template())
    if any(PLACEHOLDER.search(style) for style in styles):
        raise ValueError("the demo page's styles must not hold placeholders")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "img-src https:",
            "style-src " + (" ".join(source_hash(style) for style in styles) or "'none'"),
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def render_demo(
    template: str, origin: str, organization_id: int, token: str, series_id: int | None
) -> str:
    """The demo page: each ``{{placeholder}}`` replaced by its HTML-escaped value.

    Unknown placeholders raise ``KeyError``: a template and its values change together."""
    values = {
        "origin": origin,
        "organization_id": str(organization_id),
        "token": token,
        "series_id": "" if series_id is None else str(series_id),
    }
    # One pass, so that a value holding "{{...}}" is never substituted again.
    return PLACEHOLDER.sub(lambda match: html.escape(values[match[1]], quote=True), template)


def cors_origins(settings: Any) -> list[str]:
    """The origins allowed to call the API from a browser: ``cors_origins`` of the
    settings, a comma-separated string (or a list), trailing slashes dropped.
    Empty (the default) means same-origin only."""
    raw = getattr(settings, "cors_origins", None) or ""
    parts: Iterable[str] = raw.split(",") if isinstance(raw, str) else raw
    origins: list[str] = []
    for part in parts:
        origin = str(part).strip().rstrip("/")
        if origin and origin not in origins:
            origins.append(origin)
    return origins


@router.get("/widget/upcoming-sessions.js")
async def upcoming_sessions_script(request: Request) -> Response:
    body, etag = widget_script()
    headers = {
        "Cache-Control": SCRIPT_CACHE_CONTROL,
        "ETag": etag,
        # Loadable by pages that require CORP (Cross-Origin-Embedder-Policy).
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


@router.get("/demo")
async def demo(request: Request) -> Response:
    settings = request.app.state.settings
    organization_id: int | None = getattr(settings, "demo_organization_id", None)
    if organization_id is None:
        return error(404, "Not Found")
    page = render_demo(
        demo_template(),
        origin=str(request.base_url).rstrip("/"),
        organization_id=organization_id,
        token=getattr(settings, "demo_token", None) or "",
        series_id=getattr(settings, "demo_series_id", None),
    )
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": demo_policy(),
        "Referrer-Policy": "no-referrer",
    }
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)
