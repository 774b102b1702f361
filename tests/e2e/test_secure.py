"""The system as an operator deploys it on secured services (docs/connecting.md):
Kafka over mutual TLS (Tansu behind stunnel4), Redis over TLS with the users of
deploy/redis/users.acl, every secret from a file; and each misconfiguration
ends its process with one line naming the variable to fix."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka.conn import create_conn
from aiokafka.protocol.admin import SaslAuthenticateRequest, SaslHandShakeRequest
from redis.exceptions import NoPermissionError

from devstack.ports import free_port
from devstack.process import ChildProcess
from devstack.tls import (
    AdvertisingTansuBroker,
    Certificates,
    TlsRedisServer,
    TlsTerminator,
    make_certificates,
)
from events.kafka import KafkaConnection
from events.models import decode_event
from readmodel.connections import connect_redis
from readmodel.settings import RedisSettings
from tests.builders import token_issued
from tests.examples import example_events, example_meetings
from tests.integration.readmodel.test_redis_security import PASSWORDS, write_acl
from tests.system import REPO, System

# The tests share the ``stack`` fixture (certificates, a TLS Redis, two brokers
# behind TLS): one xdist worker runs them all, and it starts once.
pytestmark = pytest.mark.xdist_group("secure")

TOKEN = "secure-e2e-token"
SASL_PASSWORD = "sasl-Secret-4"
STARTUP_BOUND_S = 30.0  # PROJECTOR_STARTUP_TIMEOUT_S and API_STARTUP_TIMEOUT_S by default


@dataclass(frozen=True)
class Stack:
    certs: Certificates
    other_certs: Certificates
    secrets: Path
    redis_url: str
    kafka_tls: str  # mutual TLS
    kafka_sasl: str  # SASL_SSL: Tansu with --authentication (SCRAM) behind TLS
    sasl_log: Path

    def kafka_env(self, bootstrap: str | None = None) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap or self.kafka_tls,
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CA_FILE": str(self.certs.ca),
            "KAFKA_SSL_CERT_FILE": str(self.certs.client_cert),
            "KAFKA_SSL_KEY_FILE": str(self.certs.client_key),
        }

    def redis_env(self, user: str) -> dict[str, str]:
        return {
            "REDIS_URL": self.redis_url,
            "REDIS_USERNAME": user,
            "REDIS_PASSWORD_FILE": str(self.secrets / user),
            "REDIS_SSL_CA_FILE": str(self.certs.ca),
            "REDIS_SSL_CERT_FILE": str(self.certs.client_cert),
            "REDIS_SSL_KEY_FILE": str(self.certs.client_key),
        }


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("secure")
    certs = make_certificates(root / "certs")
    other_certs = make_certificates(root / "other-certs")
    secrets = root / "secrets"
    secrets.mkdir()
    for user, password in PASSWORDS.items():
        (secrets / user).write_text(password + "\n")
    (secrets / "sasl").write_text(SASL_PASSWORD)
    tls_port, sasl_port = free_port(), free_port()
    logs = root / "logs"
    with (
        TlsRedisServer(certs, acl_file=write_acl(root), log_dir=logs) as redis,
        AdvertisingTansuBroker(tls_port, log_dir=logs) as tansu,
        TlsTerminator(certs, tansu.port, port=tls_port, log_dir=logs),
        AdvertisingTansuBroker(sasl_port, authentication=True, log_dir=logs) as sasl,
        TlsTerminator(certs, sasl.port, port=sasl_port, log_dir=logs),
    ):
        yield Stack(
            certs,
            other_certs,
            secrets,
            redis.url,
            f"localhost:{tls_port}",
            f"localhost:{sasl_port}",
            sasl.log_path,
        )


@dataclass
class SecureSystem(System):
    """``System`` with TLS everywhere; each service logs in to Redis as its own user."""

    stack: Stack | None = None
    roles: dict[str, str] = field(default_factory=lambda: {"api": "api", "projector": "projector"})

    @property
    def environment(self) -> dict[str, str]:
        assert self.stack is not None
        return {**super().environment, **self.stack.kafka_env(), "PROJECTOR_METRICS_PORT": "0"}

    def start(self, module: str, *args: str, name: str | None = None, **env: str) -> ChildProcess:
        assert self.stack is not None
        role_env = self.stack.redis_env(self.roles[module])
        return super().start(module, *args, name=name, **{**role_env, **env})


def test_the_whole_system_over_tls_with_least_privilege_users(stack: Stack, tmp_path: Path) -> None:
    system = SecureSystem(stack.kafka_tls, stack.redis_url, "um", tmp_path, stack=stack)
    try:
        events = [*example_events(2027), token_issued(organization_id=5, token=TOKEN)]
        lines = tmp_path / "events.jsonl"
        lines.write_text("".join(json.dumps(event) + "\n" for event in events))
        assert all(decode_event(json.dumps(event)) for event in events)

        system.start("projector")
        system.start_api()
        status, output, _ = run("events", "publish", str(lines), env=system.environment)
        assert status == 0, output
        expected = example_meetings(2027)
        system.wait_for(
            lambda: (
                system.get("/api/v2/organizations/5/upcoming_meetings", TOKEN).status_code == 200
                and system.upcoming(5, TOKEN)["meetings"] == expected
            ),
            "the API to serve the published meetings",
        )
        body = system.upcoming(5, TOKEN)
        assert (body["total_items"], body["meetings"]) == (2, expected)

        # The operator's status, with its password in the URL: never printed.
        operator_url = stack.redis_url.replace(
            "rediss://", f"rediss://operator:{PASSWORDS['operator']}@"
        )
        env = {**stack.redis_env("operator"), "REDIS_URL": operator_url}
        del env["REDIS_USERNAME"], env["REDIS_PASSWORD_FILE"]
        status, report, _ = run("projector", "status", env={**system.environment, **env})
        assert status == 0, report
        metrics = system.get("/metrics").text

        # The operator's commands over TLS, as the operator user (the rebuild
        # deletes the old generation after a second, not the default five).
        operator = {
            **system.environment,
            **stack.redis_env("operator"),
            "PROJECTOR_GENERATION_GRACE_S": "1",
        }
        for command in (["dlq", "list"], ["verify"], ["rebuild"]):
            status, output, _ = run("projector", *command, env=operator)
            assert status == 0, output
            report += output
        assert system.upcoming(5, TOKEN)["meetings"] == expected  # from the rebuilt generation

        refused_outside_rights(stack)
    finally:
        system.stop()
    logs = {path.name: path.read_text(errors="replace") for path in tmp_path.glob("*.log")}
    assert logs, "no logs to search"
    for name, text in [*logs.items(), ("status", report), ("metrics", metrics)]:
        for secret in [*PASSWORDS.values(), SASL_PASSWORD]:
            assert secret not in text, f"{secret!r} in {name}"


def refused_outside_rights(stack: Stack) -> None:
    """The API's and the projector's users, as the services log in: Redis refuses
    each a write outside its rights."""

    async def attempt(user: str, key: str) -> None:
        settings = RedisSettings.model_validate(stack.redis_env(user))
        client = connect_redis(settings.redis)
        try:
            with pytest.raises(NoPermissionError):
                await client.set(key, "forged")
        finally:
            await client.aclose()

    asyncio.run(attempt("api", "um:{control}:current"))
    asyncio.run(attempt("projector", "not-the-read-model"))


def run(module: str, *args: str, env: dict[str, str]) -> tuple[int, str, float]:
    """A process as a user starts it: its status, its output (stdout, then
    stderr) and how long it took."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1", **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=STARTUP_BOUND_S * 3,
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def misconfigured(stack: Stack, case: str) -> dict[str, str]:
    good = {**stack.kafka_env(), **stack.redis_env("projector")}
    other = stack.other_certs
    sasl = {
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_sasl,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SSL_CA_FILE": str(stack.certs.ca),
        "KAFKA_SSL_CERT_FILE": str(stack.certs.client_cert),
        "KAFKA_SSL_KEY_FILE": str(stack.certs.client_key),
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "KAFKA_SASL_USERNAME": "projector",
        "KAFKA_SASL_PASSWORD_FILE": str(stack.secrets / "sasl"),
    }
    cases: dict[str, dict[str, Any]] = {
        "missing CA file": {"KAFKA_SSL_CA_FILE": "/nowhere/ca.pem"},
        "missing password file": {"REDIS_PASSWORD_FILE": "/nowhere/password"},
        "key of another certificate": {"KAFKA_SSL_KEY_FILE": str(other.client_key)},
        "Kafka signed by another CA": {"KAFKA_SSL_CA_FILE": str(other.ca)},
        "Redis signed by another CA": {"REDIS_SSL_CA_FILE": str(other.ca)},
        "wrong Redis password": {"REDIS_PASSWORD_FILE": str(stack.secrets / "sasl")},
        "plaintext to a TLS broker": {
            "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
            "KAFKA_SSL_CA_FILE": None,
            "KAFKA_SSL_CERT_FILE": None,
            "KAFKA_SSL_KEY_FILE": None,
        },
        "wrong SASL credentials": sasl,
        "a mechanism the broker does not offer": {**sasl, "KAFKA_SASL_MECHANISM": "PLAIN"},
    }
    env = {**good, **cases[case]}
    return {name: value for name, value in env.items() if value is not None}


CASES = [
    # (case, the command, the variable the reason names)
    ("missing CA file", ("projector",), "KAFKA_SSL_CA_FILE: no such file"),
    ("missing password file", ("api",), "REDIS_PASSWORD_FILE: no such file"),
    ("key of another certificate", ("projector", "status"), "KAFKA_SSL_KEY_FILE: the key does"),
    ("Kafka signed by another CA", ("projector",), "KAFKA_SSL_CA_FILE: the certificate"),
    ("Kafka signed by another CA", ("events", "publish"), "KAFKA_SSL_CA_FILE: the certificate"),
    ("Redis signed by another CA", ("api",), "REDIS_SSL_CA_FILE: the certificate"),
    ("Redis signed by another CA", ("projector",), "REDIS_SSL_CA_FILE: the certificate"),
    ("wrong Redis password", ("api",), "REDIS_USERNAME / REDIS_PASSWORD: "),
    ("plaintext to a TLS broker", ("projector", "dlq", "list"), "KAFKA_SECURITY_PROTOCOL="),
    ("wrong SASL credentials", ("projector",), "KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD: "),
    ("wrong SASL credentials", ("events", "publish"), "KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD"),
    (
        "a mechanism the broker does not offer",
        ("projector", "rebuild"),
        "KAFKA_SASL_MECHANISM=PLAIN: ",
    ),
]


@pytest.mark.parametrize(("case", "command", "reason"), CASES)
def test_a_misconfiguration_ends_the_process_with_one_line_naming_the_variable(
    stack: Stack, tmp_path: Path, case: str, command: tuple[str, ...], reason: str
) -> None:
    env = misconfigured(stack, case)
    args = list(command[1:])
    if args == ["publish"]:
        events = tmp_path / "events.jsonl"
        events.write_text(json.dumps(token_issued(organization_id=5, token=TOKEN)) + "\n")
        args.append(str(events))

    status, stderr, took = run(command[0], *args, env=env)

    assert status not in (0, None), stderr
    assert took < STARTUP_BOUND_S, f"{took:.1f}s: {stderr}"
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    last = lines[0]
    prog = {"projector": "projector", "api": "api", "events": ""}[command[0]]
    assert last.startswith(f"{prog}: bad configuration: " if prog else "bad configuration: "), (
        stderr
    )
    assert reason in last, stderr
    for secret in [*PASSWORDS.values(), SASL_PASSWORD]:
        assert secret not in stderr


def test_the_scram_exchange_reaches_the_broker(stack: Stack) -> None:
    """Tansu 0.6.0 requires SCRAM with --authentication but refuses ``tansu user
    create`` once it is on (and keeps users in memory only), so no user can log
    in: the broker answers the SCRAM exchange, and refuses the login, which ends
    the process with the one-line reason."""

    async def server_first_message() -> bytes:
        host, port = KafkaConnection(stack.kafka_sasl).hosts()[0]
        context = stack.certs.client_context()
        conn = await create_conn(host, port, ssl_context=context, security_protocol="SSL")
        try:
            handshake = await conn.send(SaslHandShakeRequest("SCRAM-SHA-256"))
            assert handshake.error_code == 0
            first = await conn.send(SaslAuthenticateRequest(b"n,,n=projector,r=abcdefgh"))
            return bytes(first.sasl_auth_bytes)
        finally:
            conn.close()

    answer = asyncio.run(server_first_message())
    assert answer.startswith(b"r=abcdefgh") and b",s=" in answer and b",i=" in answer

    env = misconfigured(stack, "wrong SASL credentials")
    status, output, _ = run("projector", "status", env=env)
    assert status == 2, output
    assert output.strip().splitlines()[-1] == (
        f"projector: bad configuration: KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD: the broker "
        f"at {stack.kafka_sasl} refused user 'projector' with SCRAM-SHA-256 (KeyError)"
    )
