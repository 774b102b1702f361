"""``python -m api``: serve the endpoint (settings from the environment)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import uvicorn
from pydantic import ValidationError
from redis.exceptions import RedisError

from api.app import connect
from api.server import JsonHttpProtocol
from api.settings import ApiSettings
from events.config import ConfigError, one_line
from events.logs import LogFormatError, configure_logging, redact
from events.retry import retry
from readmodel.connections import check_redis

logger = logging.getLogger("api")


async def wait_for_redis(settings: ApiSettings) -> None:
    """Ping Redis until it answers; its ``RedisError`` once the start-up timeout passes."""
    redis = connect(settings)
    try:
        await retry(
            lambda: check_redis(redis, settings.redis),
            f"Redis at {settings.redis}",
            errors=(RedisError,),
            timeout_s=settings.startup_timeout_s,
            max_delay_s=0.5,
        )
    finally:
        await redis.aclose()


@contextlib.contextmanager
def shared_metrics(workers: int) -> Iterator[None]:
    """With several workers, one fresh directory where all keep their metrics.

    Set before uvicorn spawns the workers, which read it as they import
    prometheus_client; removed when the server stops. Under a directory the
    operator named in ``PROMETHEUS_MULTIPROC_DIR``, if any.
    """
    if workers == 1:
        yield
        return
    directory = tempfile.mkdtemp(
        prefix="api-metrics-", dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    )
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def server_options(settings: ApiSettings) -> dict[str, Any]:
    """What ``uvicorn.run`` (and ``uvicorn.Config``) is given."""
    return {
        "app": "api.app:create_app",
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "http": JsonHttpProtocol,  # JSON errors and limits for requests uvicorn refuses
        "server_header": False,  # no "Server: uvicorn" (api/headers.py)
        # The client's address is the peer's: X-Forwarded-For counts only from
        # API_TRUSTED_PROXIES, as api/ratelimit.py reads it, never from uvicorn's
        # own default list (127.0.0.1). A middleware less per request too.
        "proxy_headers": False,
        "log_level": "info",
        "log_config": None,  # uvicorn's loggers go through configure_logging's handler
        "access_log": False,
    }


def main() -> int:
    try:
        configure_logging()
    except LogFormatError as exc:
        print(f"api: bad configuration: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    try:
        settings = ApiSettings()
    except ValidationError as exc:
        print(f"api: bad configuration: {one_line(exc)}", file=sys.stderr)  # noqa: T201
        return 2
    try:
        asyncio.run(wait_for_redis(settings))
    except ConfigError as exc:  # REDIS_URL, or Redis refused the TLS or credentials
        print(f"api: bad configuration: {redact(str(exc))}", file=sys.stderr)  # noqa: T201
        return 2
    except RedisError as exc:
        reason = redact(f"Redis at {settings.redis} unreachable: {exc}")
        print(f"api: {reason}", file=sys.stderr)  # noqa: T201
        return 1
    with shared_metrics(settings.workers):
        uvicorn.run(**server_options(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
