"""``python -m api``: serve the endpoint (settings from the environment)."""

from __future__ import annotations

import asyncio
import logging
import sys

import uvicorn
from pydantic import ValidationError
from redis.exceptions import RedisError

from api.app import connect
from api.settings import ApiSettings
from projector.connections import RedisUrlError, check_redis

logger = logging.getLogger("api")


async def wait_for_redis(settings: ApiSettings) -> None:
    """Ping Redis until it answers or the start-up timeout passes."""
    redis = connect(settings)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.startup_timeout_s
    try:
        while True:
            try:
                await check_redis(redis, settings.redis_url)
                return
            except RedisError:
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await redis.aclose()


def main() -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = ApiSettings()
    except ValidationError as exc:
        print(f"api: bad configuration: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    try:
        asyncio.run(wait_for_redis(settings))
    except RedisUrlError as exc:
        print(f"api: bad configuration: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except RedisError as exc:
        print(f"api: Redis at {settings.redis_url} unreachable: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="info",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
