"""The API's settings, from the environment (``API_*``, plus the shared ones)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from readmodel.connections import RedisUrl
from readmodel.settings import RedisSettings


class ApiSettings(RedisSettings):
    """Redis's shared variables (``settings.redis``), and these."""

    model_config = SettingsConfigDict(env_prefix="API_", extra="ignore", frozen=True)

    host: str = Field("0.0.0.0", description="address the API listens on")
    port: int = Field(8000, ge=1, le=65535, description="port the API listens on")
    # The shared two, also read under the API's own older names.
    redis_url: RedisUrl = Field(
        "redis://localhost:6379/0",
        validation_alias=AliasChoices("REDIS_URL", "API_REDIS_URL"),
        description="the read model's Redis, in the projector's forms; REDIS_URL wins "
        "when both are set",
    )
    key_prefix: str = Field(
        "um",
        min_length=1,
        validation_alias=AliasChoices("REDIS_KEY_PREFIX", "API_KEY_PREFIX"),
        description="root of every Redis key; must match the projector's",
    )
    redis_timeout_s: float = Field(1.0, gt=0, description="per Redis call; then 503")
    redis_max_connections: int = Field(
        64,
        ge=1,
        description="Redis connection pool size per process (readiness, token denials, the "
        "failure counter); pages use one pipelined connection of their own",
    )
    retry_after_s: int = Field(1, ge=0, description="Retry-After of a 503")
    topic_prefix: str = Field(
        "",
        validation_alias=AliasChoices("KAFKA_TOPIC_PREFIX"),
        description="the projector's topic prefix: a consistency token may name its topics",
    )
    consistency_max_wait_ms: int = Field(
        2000,
        ge=0,
        description="longest wait for the position of a request's X-Consistency-Token "
        "(docs/consistency.md); then 503",
    )
    generation_refresh_s: float = Field(
        1.0, gt=0, description="how often the served generation is re-read"
    )
    startup_timeout_s: float = Field(30.0, ge=0, description="wait for Redis at start-up")
    workers: int = Field(
        1,
        ge=1,
        description="uvicorn worker processes on one port; /metrics then sums them all",
    )
    head_timeout_s: float = Field(
        10.0,
        gt=0,
        description="a connection that has not sent a whole request head this long after "
        "opening (or after starting one) gets 408 and is closed",
    )
    ready_max_staleness_s: float = Field(
        60.0,
        ge=0,
        description="/readyz is 503 unless a projector worker that is not stalled has written "
        "a heartbeat within this many seconds; 0 leaves the projector out of readiness",
    )
    demo_organization_id: int | None = Field(
        None, ge=1, description="/demo shows the widget for this organization; unset: 404"
    )
    demo_token: str | None = Field(None, description="the API token the /demo page uses")
    demo_series_id: int | None = Field(None, ge=1, description="/demo shows only this series")
    cache: bool = Field(
        True,
        description="keep answers in process, invalidated by Redis client-side caching "
        "(single-node Redis only)",
    )
    cache_max_entries: int = Field(
        10_000, ge=1, description="most answers kept per process (the oldest go first)"
    )
    cache_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1, description="most bytes of answers kept per process"
    )
    auth_failure_limit: int = Field(
        20, ge=0, description="failed authentications per client and window before a block; 0: off"
    )
    auth_failure_window_s: float = Field(
        10.0, gt=0, description="the window in which failed authentications are counted"
    )
    auth_block_s: float = Field(60.0, gt=0, description="how long a client stays blocked (429)")
    trusted_proxies: str = Field(
        "",
        description="comma-separated addresses or networks of proxies whose X-Forwarded-For "
        "names the client; empty: the peer address is the client",
    )
    cors_origins: str = Field(
        "", description="comma-separated origins whose pages may call the API; empty: none"
    )
