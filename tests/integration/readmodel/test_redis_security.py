"""Redis over TLS with the least-privilege users of deploy/redis/users.acl, for real:
redis-py's clients and the raw RESP connections (pipelined, tracking) alike."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis.exceptions import NoPermissionError, ResponseError

from api.cache import AnswerCache
from api.ratelimit import FailureLimiter
from api.tracking import InvalidationTracker
from devstack.tls import Certificates, TlsRedisServer, make_certificates
from events.config import ConfigError
from readmodel.connections import RedisClient, RedisEndpoint, check_redis, connect_redis
from readmodel.resp import PipelinedConnection

# The tests share the certificates and the TLS Redis: one xdist worker runs
# them all, and they are made once.
pytestmark = pytest.mark.xdist_group("redis-security")

ROOT = Path(__file__).resolve().parents[3]
PASSWORDS = {"api": "api-Secret-1", "projector": "projector-Secret-2", "operator": "op-Secret-3"}


def write_acl(directory: Path) -> Path:
    """deploy/redis/users.acl with the test's passwords, as an operator makes it."""
    acl = directory / "users.acl"
    env = {**os.environ, **{f"REDIS_{r.upper()}_PASSWORD": p for r, p in PASSWORDS.items()}}
    with acl.open("w") as out:
        subprocess.run(
            [
                "sh",
                str(ROOT / "deploy/redis/with-passwords.sh"),
                str(ROOT / "deploy/redis/users.acl"),
            ],
            check=True,
            env=env,
            stdout=out,
        )
    return acl


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("other-certs"))


@pytest.fixture(scope="session")
def tls_redis(
    certs: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsRedisServer]:
    directory = tmp_path_factory.mktemp("redis-tls")
    with TlsRedisServer(certs, acl_file=write_acl(directory), log_dir=directory) as server:
        yield server


def endpoint(
    server: TlsRedisServer, certs: Certificates, user: str | None, password: str | None = None
) -> RedisEndpoint:
    return RedisEndpoint(
        server.url,
        username=user,
        password=SecretStr(password if password is not None else PASSWORDS[user or "api"]),
        ca_file=str(certs.ca),
        cert_file=str(certs.client_cert),
        key_file=str(certs.client_key),
    )


@pytest.fixture
async def as_user(
    tls_redis: TlsRedisServer, certs: Certificates
) -> AsyncIterator[dict[str, RedisClient]]:
    clients = {user: connect_redis(endpoint(tls_redis, certs, user)) for user in PASSWORDS}
    yield clients
    for client in clients.values():
        await client.aclose()


async def test_each_user_writes_only_where_its_role_may(as_user: dict[str, RedisClient]) -> None:
    projector, api, operator = as_user["projector"], as_user["api"], as_user["operator"]
    await projector.set("um:{control}:current", "g1")
    await projector.hset("um:g1:{o5}:doc", "e1", "{}")

    # The API reads the read model, and writes the rate limiter's keys only.
    assert await api.get("um:{control}:current") == b"g1"
    assert await api.hget("um:g1:{o5}:doc", "e1") == b"{}"
    limiter = FailureLimiter(api, "um", limit=2, window_s=10, block_s=60)
    for _ in range(2):
        await limiter.failed("203.0.113.9", now_ms=1_000)
    assert limiter.blocks == {"203.0.113.9": 61_000}  # fail.lua wrote the block
    for write in (
        api.set("um:{control}:current", "g2"),
        api.hset("um:g1:{o5}:doc", "e1", "forged"),
        api.delete("um:g1:{o5}:doc"),
        api.eval("return redis.call('SET', KEYS[1], 'x')", 1, "um:{control}:current"),
    ):
        with pytest.raises(NoPermissionError):
            await write
    # EVALSHA is allowed on the read model's keys (the read scripts), but
    # whatever a script runs is checked against the user's rights.
    forge = await api.script_load("return redis.call('SET', KEYS[1], 'forged')")
    with pytest.raises(ResponseError, match="can't run this command"):
        await api.evalsha(forge, 1, "um:{control}:current")
    assert await api.get("um:{control}:current") == b"g1"

    # The projector and the operator write under their prefix, nowhere else.
    for user in (projector, operator):
        await user.set("um:{control}:building", "g2")
        with pytest.raises(NoPermissionError):
            await user.set("elsewhere", "x")
        with pytest.raises(NoPermissionError):
            await user.flushall()
        with pytest.raises(NoPermissionError):
            await user.config_get("requirepass")


async def test_the_raw_connections_speak_tls_and_auth(
    tls_redis: TlsRedisServer, certs: Certificates
) -> None:
    api = endpoint(tls_redis, certs, "api")
    fast = PipelinedConnection(api, timeout_s=5)
    assert await fast.call("PING") == b"PONG"
    with pytest.raises(ResponseError, match="NOPERM"):
        await fast.call("SET", "um:{control}:current", "forged")

    tracker = InvalidationTracker(
        api, "um", AnswerCache(100, 1 << 20), 5.0, channels=["um:{rl}:blocks"]
    )
    running = asyncio.create_task(tracker.run())
    try:
        async with asyncio.timeout(20):
            await tracker.ready.wait()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


# redis-py leaves the socket of a refused TLS handshake to the garbage
# collector: collected here (below), not in whichever test runs next.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_refusal_names_the_variable_to_fix(
    tls_redis: TlsRedisServer, certs: Certificates, other_certs: Certificates
) -> None:
    async def reason(target: RedisEndpoint) -> str:
        client = connect_redis(target, socket_connect_timeout=5, socket_timeout=5)
        try:
            with pytest.raises(ConfigError) as raised:
                await check_redis(client, target)
        finally:
            await client.aclose()
        return str(raised.value)

    good = endpoint(tls_redis, certs, "api")
    wrong_password = await reason(endpoint(tls_redis, certs, "api", "not-it"))
    assert wrong_password.startswith("REDIS_USERNAME / REDIS_PASSWORD: ")
    assert "not-it" not in wrong_password
    nobody = RedisEndpoint(
        tls_redis.url, ca_file=good.ca_file, cert_file=good.cert_file, key_file=good.key_file
    )
    assert (await reason(nobody)).endswith("wants a user and password")
    wrong_ca = RedisEndpoint(
        tls_redis.url,
        username="api",
        password=good.password,
        ca_file=str(other_certs.ca),
        cert_file=good.cert_file,
        key_file=good.key_file,
    )
    assert (await reason(wrong_ca)).startswith("REDIS_SSL_CA_FILE: ")
    no_client_cert = RedisEndpoint(
        tls_redis.url, username="api", password=good.password, ca_file=str(certs.ca)
    )
    assert (await reason(no_client_cert)).startswith("REDIS_SSL_CERT_FILE: ")
    gc.collect()
