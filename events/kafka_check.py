"""Telling a broker that refuses this client's TLS or SASL from one that is not there.

aiokafka reports both as "Unable to bootstrap", and some refusals not as a
Kafka error at all. ``check_kafka`` connects to each bootstrap server step by
step (TCP, then TLS, then the SASL handshake, then authentication) and raises
``ConfigError`` naming the variable to fix at the step that fails; a server
that cannot be reached is not an error here (the caller waits or reports it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

from aiokafka.conn import AIOKafkaConnection, create_conn
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import SaslHandShakeRequest
from aiokafka.protocol.metadata import MetadataRequest

from events.config import ConfigError
from events.kafka import KafkaConnection, KafkaSecurity

HOSTNAME_MISMATCH = 62  # OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH


async def check_kafka(kafka: KafkaConnection, timeout_s: float = 5.0) -> None:
    """``ConfigError`` if a bootstrap server refuses this client's security settings;
    nothing once one accepts them, or if none can be reached."""
    for host, port in kafka.hosts():
        try:
            async with asyncio.timeout(timeout_s):
                _, writer = await asyncio.open_connection(host, port)
            writer.close()
        except (OSError, TimeoutError):
            continue  # not there: nothing to say about the settings
        await _check_broker(kafka.security, host, port, timeout_s)
        return


async def _check_broker(security: KafkaSecurity, host: str, port: int, timeout_s: float) -> None:
    where = f"{host}:{port}"
    protocol = f"KAFKA_SECURITY_PROTOCOL={security.protocol}"
    context = security.ssl_context()
    try:
        async with asyncio.timeout(timeout_s):
            # aiokafka's connection asks for the API versions as it opens.
            conn = await _connect(host, port, timeout_s, ssl_context=context)
    except ssl.SSLError as exc:
        raise ConfigError(_tls_reason(exc, where, protocol)) from None
    except TimeoutError:
        question = "does it serve TLS there?" if context else "does it want TLS?"
        raise ConfigError(
            f"{protocol}: no answer from the broker at {where} within {timeout_s:g}s: {question}"
        ) from None
    except (KafkaError, OSError) as exc:
        raise ConfigError(_first_request_reason(exc, where, protocol)) from None
    try:
        if security.uses_sasl:
            await _check_mechanism(conn, security.sasl_mechanism, where, timeout_s)
        else:
            await _first_request(conn, where, protocol, timeout_s)
    finally:
        conn.close()
    if security.uses_sasl:
        await _check_login(security, host, port, timeout_s)


async def _connect(host: str, port: int, timeout_s: float, **options: Any) -> AIOKafkaConnection:
    security = "SSL" if options.get("ssl_context") is not None else "PLAINTEXT"
    options.setdefault("security_protocol", security)
    conn: AIOKafkaConnection = await create_conn(
        host, port, request_timeout_ms=int(timeout_s * 1000), **options
    )
    return conn


async def _first_request(conn: AIOKafkaConnection, where: str, protocol: str, t: float) -> None:
    """A metadata request: a broker that wants SASL ends the connection there."""
    try:
        async with asyncio.timeout(t):
            await conn.send(MetadataRequest([]))
    except (KafkaError, OSError, TimeoutError) as exc:
        raise ConfigError(_first_request_reason(exc, where, protocol)) from None


def _first_request_reason(exc: BaseException, where: str, protocol: str) -> str:
    wants = "SASL (KAFKA_SECURITY_PROTOCOL=SASL_*)"
    if "SSL" in protocol:
        wants += " or a client certificate (KAFKA_SSL_CERT_FILE)"
    else:
        wants += " or TLS (KAFKA_SECURITY_PROTOCOL=SSL)"
    return (
        f"{protocol}: the broker at {where} ended the connection at the first request "
        f"({type(exc).__name__}): does it want {wants}?"
    )


async def _check_mechanism(conn: AIOKafkaConnection, mechanism: str, where: str, t: float) -> None:
    try:
        async with asyncio.timeout(t):
            response = await conn.send(SaslHandShakeRequest(mechanism))
    except (KafkaError, OSError, TimeoutError):
        raise ConfigError(
            f"KAFKA_SASL_MECHANISM={mechanism}: the broker at {where} ended the connection "
            "when offered it: it offers another mechanism, or no SASL on this listener"
        ) from None
    offered = list(response.enabled_mechanisms)
    if response.error_code or mechanism not in offered:
        raise ConfigError(
            f"KAFKA_SASL_MECHANISM={mechanism}: the broker at {where} offers "
            f"{', '.join(offered) or 'no mechanism'}"
        )


async def _check_login(security: KafkaSecurity, host: str, port: int, timeout_s: float) -> None:
    options = security.client_options()
    try:
        async with asyncio.timeout(timeout_s):
            conn = await _connect(host, port, timeout_s, **options)
    # A refusal comes as a Kafka error, a closed connection, or (SCRAM with a
    # broker that answers with an error message) a malformed final message.
    except (KafkaError, OSError, TimeoutError, KeyError, ValueError) as exc:
        raise ConfigError(
            f"KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD: the broker at {host}:{port} refused "
            f"user {security.username!r} with {security.sasl_mechanism} ({type(exc).__name__})"
        ) from None
    with contextlib.suppress(Exception):
        conn.close()


def _tls_reason(exc: ssl.SSLError, where: str, protocol: str) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == HOSTNAME_MISMATCH:
            return (
                f"KAFKA_SSL_CHECK_HOSTNAME: the certificate of the broker at {where} does not "
                f"name that host ({exc.verify_message}): fix KAFKA_BOOTSTRAP_SERVERS or the "
                "certificate, or set KAFKA_SSL_CHECK_HOSTNAME=false"
            )
        return (
            f"KAFKA_SSL_CA_FILE: the certificate of the broker at {where} is not trusted "
            f"({exc.verify_message})"
        )
    text = " ".join(str(exc).split())
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        return f"{protocol}: the broker at {where} does not speak TLS there"
    if "certificate required" in text.lower() or "CERTIFICATE_REQUIRED" in text:
        return f"KAFKA_SSL_CERT_FILE: the broker at {where} wants a client certificate"
    return f"KAFKA_SSL_CERT_FILE / KAFKA_SSL_CA_FILE: TLS with the broker at {where} failed: {text}"
