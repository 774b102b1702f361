"""The Redis settings both services share, declared once (docs/connecting.md).

REDIS_URL               redis://, rediss://, redis+cluster:// or rediss+cluster://
REDIS_KEY_PREFIX        the read model's key prefix (um)
REDIS_USERNAME          an ACL user, unless the URL names one
REDIS_PASSWORD          its password (or REDIS_PASSWORD_FILE), unless in the URL
REDIS_SSL_CA_FILE       PEM CA certificates to trust (else the system's), rediss only
REDIS_SSL_CERT_FILE     PEM client certificate, rediss only
REDIS_SSL_KEY_FILE      PEM key of that certificate (unless in the certificate file)
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from events.config import optional_variable, secret_setting
from readmodel.connections import RedisEndpoint, RedisUrl


class RedisSettings(BaseSettings):
    """The Redis variables; the projector's and the API's settings inherit them."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    redis_url: RedisUrl = Field(
        "redis://localhost:6379/0",
        validation_alias=AliasChoices("REDIS_URL"),
        description="the read model's Redis: redis://host:port/db for one node, "
        "redis+cluster://host:port[,host:port...] for a Redis Cluster; rediss:// for TLS",
    )
    key_prefix: str = Field(
        "um",
        min_length=1,
        validation_alias=AliasChoices("REDIS_KEY_PREFIX"),
        description="root of every Redis key; the projector and the API must use the same",
    )
    redis_username: str | None = optional_variable(
        "REDIS_USERNAME", "Redis ACL user (or in REDIS_URL, not both)"
    )
    redis_password: SecretStr | None = optional_variable(
        "REDIS_PASSWORD", "Redis password (a secret: never logged; or in REDIS_URL, not both)"
    )
    redis_password_file: Path | None = optional_variable(
        "REDIS_PASSWORD_FILE", "a file holding the Redis password, instead of the variable"
    )
    redis_ssl_ca_file: str | None = optional_variable(
        "REDIS_SSL_CA_FILE", "PEM file of the CAs that sign Redis's certificate (rediss:// only)"
    )
    redis_ssl_cert_file: str | None = optional_variable(
        "REDIS_SSL_CERT_FILE", "PEM client certificate, when Redis asks for one"
    )
    redis_ssl_key_file: str | None = optional_variable(
        "REDIS_SSL_KEY_FILE", "PEM private key of the client certificate"
    )

    @model_validator(mode="after")
    def _redis_endpoint_works(self) -> RedisSettings:
        self.redis  # noqa: B018 - made to check it; ConfigError names the variable
        return self

    @cached_property
    def redis(self) -> RedisEndpoint:
        """The endpoint every Redis client of this service uses; prints without secrets."""
        return RedisEndpoint(
            self.redis_url,
            username=self.redis_username,
            password=secret_setting(
                "REDIS_PASSWORD", self.redis_password, self.redis_password_file
            ),
            ca_file=self.redis_ssl_ca_file,
            cert_file=self.redis_ssl_cert_file,
            key_file=self.redis_ssl_key_file,
        )
