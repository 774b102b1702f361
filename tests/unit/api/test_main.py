"""What ``python -m api`` asks of uvicorn."""

from __future__ import annotations

import pytest
import uvicorn
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.__main__ import server_options
from api.app import Api
from api.server import JsonHttpProtocol
from api.settings import ApiSettings


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> uvicorn.Config:
    monkeypatch.setenv("API_CACHE", "0")
    config = uvicorn.Config(**server_options(ApiSettings()))
    config.load()
    return config


def test_uvicorn_serves_the_app_itself(config: uvicorn.Config) -> None:
    """No X-Forwarded-For rewriting of the client by uvicorn (127.0.0.1 is in its
    default trusted list): only API_TRUSTED_PROXIES decides (api/ratelimit.py)."""
    app = config.loaded_app
    while not isinstance(app, Api):
        assert not isinstance(app, ProxyHeadersMiddleware)
        app = app.app


def test_uvicorn_refuses_with_json_and_names_no_server(config: uvicorn.Config) -> None:
    assert config.http_protocol_class is JsonHttpProtocol
    assert not config.server_header
