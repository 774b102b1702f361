"""``X-Content-Type-Options: nosniff`` on every response.

A browser then never guesses a type other than the ``Content-Type`` sent
(a JSON error read as HTML, say). Each part of the app adds it its own way:

- ``api/lists.py`` builds its header lists with ``NOSNIFF`` in them: no work
  per request;
- ``NoSniff`` adds it to every response of the app it wraps (FastAPI's:
  health, metrics, the widget, the OpenAPI pages and errors);
- ``Cors`` adds it to the preflight answers ``CORSMiddleware`` gives itself;
- ``api/server.py`` writes it in the refusals the server sends before the app.

No response names the server or its version: ``python -m api`` turns off
uvicorn's ``Server`` header.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")


class NoSniff:
    """Adds ``NOSNIFF`` to the headers of every HTTP response of ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), NOSNIFF]
            await send(message)

        await self.app(scope, receive, send_nosniff)


class Cors(CORSMiddleware):
    """Starlette's CORS, its own preflight answers with ``nosniff`` too."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        response.raw_headers.append(NOSNIFF)
        return response
