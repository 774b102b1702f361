"""REDIS_* variables to redis-py's options and the raw connections': no network."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import ApiSettings
from events.config import one_line
from projector.settings import ProjectorSettings
from readmodel.connections import BoundedRedisCluster, RedisEndpoint, connect_redis, redact_url
from readmodel.settings import RedisSettings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    subprocess.run(["sh", str(ROOT / "deploy/make-certs.sh"), str(directory)], check=True)
    return directory


def settings(**env: str) -> RedisEndpoint:
    return RedisSettings.model_validate(env).redis


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:hunter2@h:1/0", "redis://:***@h:1/0"),
        (
            "rediss://api:p%40ss@h:1/0?ssl_cert_reqs=required",
            "rediss://api:***@h:1/0?ssl_cert_reqs=required",
        ),
        ("redis://user@h", "redis://user@h"),
        ("rediss+cluster://u:pw@a:1,b:2/0", "rediss+cluster://u:***@a:1,b:2/0"),
        ("redis://h/0?password=hunter2&db=1", "redis://h/0?password=***&db=1"),
    ],
)
def test_a_url_is_logged_without_its_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert str(RedisEndpoint(url)) == shown


def test_user_password_and_tls_files_become_redis_py_options(certs: Path, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    redis = settings(
        REDIS_URL="rediss://localhost:6380/0",
        REDIS_USERNAME="api",
        REDIS_PASSWORD_FILE=str(secret),
        REDIS_SSL_CA_FILE=str(certs / "ca.pem"),
        REDIS_SSL_CERT_FILE=str(certs / "client.pem"),
        REDIS_SSL_KEY_FILE=str(certs / "client.key"),
    )
    assert redis.options() == {
        "username": "api",
        "password": "from-a-file",
        "ssl_ca_certs": str(certs / "ca.pem"),
        "ssl_certfile": str(certs / "client.pem"),
        "ssl_keyfile": str(certs / "client.key"),
    }
    assert redis.credentials() == ("api", "from-a-file")
    context = redis.ssl_context()
    assert context is not None and context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert "from-a-file" not in repr(redis) and "from-a-file" not in str(redis)


def test_the_urls_own_user_and_password_serve_the_raw_connections() -> None:
    redis = settings(REDIS_URL="redis://me:pw@localhost:6379/0")
    assert redis.options() == {}
    assert redis.credentials() == ("me", "pw")
    assert redis.ssl_context() is None
    relaxed = RedisEndpoint("rediss://h:1/0?ssl_cert_reqs=none")
    context = relaxed.ssl_context()
    assert context is not None and context.verify_mode is ssl.CERT_NONE


async def test_every_cluster_node_gets_the_tls_files_and_credentials(certs: Path) -> None:
    redis = RedisEndpoint(
        "rediss+cluster://a:7000,b:7001",
        username="projector",
        ca_file=str(certs / "ca.pem"),
        cert_file=str(certs / "client.pem"),
        key_file=str(certs / "client.key"),
    )
    client = connect_redis(redis)
    assert isinstance(client, BoundedRedisCluster)
    options = client.nodes_manager.connection_kwargs
    assert {k: options.get(k) for k in ("username", "ssl_ca_certs", "ssl_certfile")} == {
        "username": "projector",
        "ssl_ca_certs": str(certs / "ca.pem"),
        "ssl_certfile": str(certs / "client.pem"),
    }
    await client.aclose()


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        (
            {"REDIS_SSL_CA_FILE": "/ca.pem"},
            "REDIS_SSL_CA_FILE is set but REDIS_URL is not TLS: use rediss:// (or rediss+cluster://)",
        ),
        (
            {"REDIS_URL": "rediss://h:1", "REDIS_SSL_KEY_FILE": "/k.pem"},
            "REDIS_SSL_KEY_FILE is set without REDIS_SSL_CERT_FILE",
        ),
        (
            {"REDIS_URL": "rediss://h:1", "REDIS_SSL_CA_FILE": "/nowhere/ca.pem"},
            "REDIS_SSL_CA_FILE: no such file: /nowhere/ca.pem",
        ),
        ({"REDIS_PASSWORD_FILE": "/nowhere/pw"}, "REDIS_PASSWORD_FILE: no such file: /nowhere/pw"),
        (
            {"REDIS_URL": "redis://:a@h:1", "REDIS_PASSWORD": "b"},
            "REDIS_PASSWORD and a password in REDIS_URL are both set: set one",
        ),
        (
            {"REDIS_URL": "redis://u@h:1", "REDIS_USERNAME": "v"},
            "REDIS_USERNAME and a user in REDIS_URL are both set: set one",
        ),
        (
            {"REDIS_PASSWORD": "a", "REDIS_PASSWORD_FILE": "/p"},
            "REDIS_PASSWORD and REDIS_PASSWORD_FILE are both set: set one",
        ),
    ],
)
def test_a_setting_that_cannot_work_names_the_variable(env: dict[str, str], reason: str) -> None:
    with pytest.raises(ValidationError) as raised:
        settings(**env)
    assert one_line(raised.value) == reason


def test_a_key_of_another_certificate_is_refused(certs: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["sh", str(ROOT / "deploy/make-certs.sh"), str(other)], check=True)
    with pytest.raises(ValidationError) as raised:
        settings(
            REDIS_URL="rediss://h:1",
            REDIS_SSL_CERT_FILE=str(certs / "client.pem"),
            REDIS_SSL_KEY_FILE=str(other / "client.key"),
        )
    assert one_line(raised.value) == (
        "REDIS_SSL_KEY_FILE: the key does not match the certificate in REDIS_SSL_CERT_FILE"
    )


def test_both_services_share_the_declaration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://h:1/0")
    monkeypatch.setenv("REDIS_USERNAME", "someone")
    monkeypatch.setenv("REDIS_PASSWORD", "pw")
    assert (
        ProjectorSettings().redis
        == ApiSettings().redis
        == RedisEndpoint("redis://h:1/0", username="someone", password=ApiSettings().redis.password)
    )
