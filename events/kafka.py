"""How every Kafka client of the project connects: bootstrap servers, TLS and SASL.

One set of variables, read and checked once, for the projector's worker and
commands, the publisher and ``python -m events publish`` (docs/connecting.md):

    KAFKA_BOOTSTRAP_SERVERS     host:port[,host:port...]        (localhost:9092)
    KAFKA_SECURITY_PROTOCOL     PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (PLAINTEXT)
    KAFKA_SASL_MECHANISM        PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512  (PLAIN with SASL)
    KAFKA_SASL_USERNAME         required with SASL_*
    KAFKA_SASL_PASSWORD         required with SASL_*, or KAFKA_SASL_PASSWORD_FILE
    KAFKA_SSL_CA_FILE           PEM CA certificates to trust (else the system's), with *SSL
    KAFKA_SSL_CERT_FILE         PEM client certificate (mutual TLS), with *SSL
    KAFKA_SSL_KEY_FILE          PEM key of that certificate (unless in the certificate file)
    KAFKA_SSL_CHECK_HOSTNAME    true (default) or false: the broker's name must match

``KafkaSettings`` declares them (services inherit it); a combination that
cannot work, or a file that is missing, unreadable, not PEM or a key that does
not match its certificate, fails validation with a message naming the
variable. ``KafkaConnection`` maps them to aiokafka's keyword arguments
(``client_options``) and to Faust's ``broker_credentials``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from events.config import (
    ConfigError,
    load_ca,
    load_client_certificate,
    optional_variable,
    refuse_if_set,
    secret_setting,
)

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


@dataclass(frozen=True)
class KafkaSecurity:
    """TLS and SASL of a Kafka client, checked when made (``ConfigError`` naming the variable)."""

    protocol: SecurityProtocol = "PLAINTEXT"
    mechanism: SaslMechanism | None = None
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    check_hostname: bool = True

    def __post_init__(self) -> None:
        protocol = f"KAFKA_SECURITY_PROTOCOL={self.protocol}"
        if self.uses_sasl:
            if not self.username:
                raise ConfigError(f"KAFKA_SASL_USERNAME: required with {protocol}")
            if self.password is None:
                raise ConfigError(
                    f"KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE): required with {protocol}"
                )
        else:
            refuse_if_set(
                [
                    ("KAFKA_SASL_MECHANISM", self.mechanism),
                    ("KAFKA_SASL_USERNAME", self.username),
                    ("KAFKA_SASL_PASSWORD", self.password),
                ],
                f"{protocol} uses no SASL: "
                "set KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT)",
            )
        if not self.uses_tls:
            refuse_if_set(
                [
                    ("KAFKA_SSL_CA_FILE", self.ca_file),
                    ("KAFKA_SSL_CERT_FILE", self.cert_file),
                    ("KAFKA_SSL_KEY_FILE", self.key_file),
                ],
                f"{protocol} uses no TLS: set KAFKA_SECURITY_PROTOCOL=SSL (or SASL_SSL)",
            )
        if self.key_file is not None and self.cert_file is None:
            raise ConfigError("KAFKA_SSL_KEY_FILE is set without KAFKA_SSL_CERT_FILE")
        self.ssl_context()  # every file readable, PEM, the key matching its certificate

    @property
    def uses_tls(self) -> bool:
        return self.protocol in TLS_PROTOCOLS

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in SASL_PROTOCOLS

    @property
    def sasl_mechanism(self) -> SaslMechanism:
        return self.mechanism or "PLAIN"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A fresh client TLS context (files read now), or None without TLS."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.ca_file is not None:
            load_ca(context, "KAFKA_SSL_CA_FILE", self.ca_file)
        if self.cert_file is not None:
            load_client_certificate(
                context, "KAFKA_SSL_CERT_FILE", self.cert_file, "KAFKA_SSL_KEY_FILE", self.key_file
            )
        context.check_hostname = self.check_hostname
        return context

    def client_options(self) -> dict[str, Any]:
        """aiokafka's keyword arguments for this security (every client takes them)."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            assert self.password is not None  # checked when made
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password.get_secret_value()
        return options

    def broker_credentials(self) -> CredentialsT | None:
        """Faust's ``broker_credentials`` for this security (None: plaintext)."""
        import faust

        context = self.ssl_context()
        if self.uses_sasl:
            assert self.password is not None
            return faust.SASLCredentials(
                username=self.username,
                password=self.password.get_secret_value(),
                mechanism=self.sasl_mechanism,
                ssl_context=context,
            )
        if context is not None:
            return faust.SSLCredentials(context)
        return None


@dataclass(frozen=True)
class KafkaConnection:
    """Where a Kafka client connects, and how; what every Kafka function of the project takes."""

    bootstrap_servers: str
    security: KafkaSecurity = field(default_factory=KafkaSecurity)

    def client_options(self) -> dict[str, Any]:
        """``bootstrap_servers`` and the security options of aiokafka's clients."""
        return {"bootstrap_servers": self.bootstrap_servers, **self.security.client_options()}

    def hosts(self) -> list[tuple[str, int]]:
        """The bootstrap servers as (host, port) pairs."""
        pairs = []
        for server in self.bootstrap_servers.split(","):
            host, colon, port = server.strip().rpartition(":")
            if not colon or host.endswith(":") or not port.isdigit():  # no port
                host, port = server.strip(), "9092"
            pairs.append((host.strip("[]"), int(port)))
        return pairs

    def __str__(self) -> str:
        return self.bootstrap_servers


class KafkaSettings(BaseSettings):
    """The Kafka variables, declared once; every service's settings inherit them."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        "localhost:9092",
        min_length=1,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS"),
        description="comma-separated host:port list of Kafka brokers",
    )
    kafka_security_protocol: SecurityProtocol = Field(
        "PLAINTEXT",
        validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL"),
        description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    )
    kafka_sasl_mechanism: SaslMechanism | None = optional_variable(
        "KAFKA_SASL_MECHANISM", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (PLAIN when unset)"
    )
    kafka_sasl_username: str | None = optional_variable("KAFKA_SASL_USERNAME", "SASL user name")
    kafka_sasl_password: SecretStr | None = optional_variable(
        "KAFKA_SASL_PASSWORD", "SASL password (a secret: never logged)"
    )
    kafka_sasl_password_file: Path | None = optional_variable(
        "KAFKA_SASL_PASSWORD_FILE", "a file holding the SASL password, instead of the variable"
    )
    kafka_ssl_ca_file: str | None = optional_variable(
        "KAFKA_SSL_CA_FILE",
        "PEM file of the CAs that sign the brokers' certificates (the system's when unset)",
    )
    kafka_ssl_cert_file: str | None = optional_variable(
        "KAFKA_SSL_CERT_FILE", "PEM client certificate, for mutual TLS"
    )
    kafka_ssl_key_file: str | None = optional_variable(
        "KAFKA_SSL_KEY_FILE", "PEM private key of the client certificate"
    )
    kafka_ssl_check_hostname: bool = Field(
        True,
        validation_alias=AliasChoices("KAFKA_SSL_CHECK_HOSTNAME"),
        description="whether a broker's certificate must name the host connected to",
    )

    @model_validator(mode="after")
    def _kafka_security_works(self) -> KafkaSettings:
        self.kafka  # noqa: B018 - made to check it; ConfigError names the variable
        return self

    @cached_property
    def kafka(self) -> KafkaConnection:
        """The connection every Kafka client of this service uses."""
        password = secret_setting(
            "KAFKA_SASL_PASSWORD", self.kafka_sasl_password, self.kafka_sasl_password_file
        )
        return KafkaConnection(
            self.kafka_bootstrap_servers,
            KafkaSecurity(
                protocol=self.kafka_security_protocol,
                mechanism=self.kafka_sasl_mechanism,
                username=self.kafka_sasl_username,
                password=password,
                ca_file=self.kafka_ssl_ca_file,
                cert_file=self.kafka_ssl_cert_file,
                key_file=self.kafka_ssl_key_file,
                check_hostname=self.kafka_ssl_check_hostname,
            ),
        )
