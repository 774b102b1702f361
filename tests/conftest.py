"""Fixtures shared by the whole suite: a Kafka broker, a Redis server, namespaces.

``services`` comes from ``devstack.provide_services()``: the servers named by
``KAFKA_BOOTSTRAP_SERVERS`` / ``REDIS_URL`` if set, else Docker containers, else
embedded Tansu and Redis. They are shared by the session and may be someone's
own servers, so tests isolate themselves with ``namespace`` and never flush them.
Tests that stop or restart a server take a private one: ``redis_server``,
``tansu_broker``. ``redis_cluster`` is a private Redis Cluster (3 primaries).
"""

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.errors import BinaryNotFoundError
from devstack.kafka import TansuBroker, find_tansu
from devstack.redis import RedisServer, find_redis_server
from devstack.redis_cluster import LocalRedisCluster, find_redis_cli
from devstack.services import Services, provide_services
from projector.settings import ProjectorSettings
from tests.system import System

pytest_plugins = ["pytester", "tests.skip_policy"]


TANSU_GROUP_SETTINGS = {
    "PROJECTOR_SESSION_TIMEOUT_S": "3",
    "PROJECTOR_HEARTBEAT_INTERVAL_S": "0.5",
}
"""The projectors' consumer-group timings on the embedded broker.

Tansu holds a consumer-group join for about half the session timeout, and a
killed worker's partitions move once its session times out: a short session
makes every projector start and every rebalance a few seconds shorter. Apache
Kafka refuses sessions shorter than its ``group.min.session.timeout.ms`` (6 s by
default), so a broker from Docker or the environment keeps the defaults.
"""


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """The session's broker and Redis; one pair per xdist worker.

    On the embedded broker, the processes the tests start (they inherit this
    environment) and the settings they read take ``TANSU_GROUP_SETTINGS``,
    unless the environment already names them.
    """
    with (
        provide_services(log_dir=tmp_path_factory.mktemp("services")) as provided,
        pytest.MonkeyPatch.context() as patch,
    ):
        if provided.kafka_origin == "embedded":
            for name, value in TANSU_GROUP_SETTINGS.items():
                patch.setenv(name, os.environ.get(name, value))
        yield provided


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(services: Services) -> str:
    return services.bootstrap_servers


@pytest.fixture(scope="session")
def redis_url(services: Services) -> str:
    return services.redis_url


@pytest.fixture
def namespace() -> str:
    """A fresh name for one test: ``KAFKA_TOPIC_PREFIX=f"{namespace}."``, ``REDIS_KEY_PREFIX``."""
    return f"t{secrets.token_hex(4)}"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis server, free to be stopped, restarted (it comes back empty) or flushed."""
    _require(find_redis_server)
    with RedisServer(log_dir=tmp_path) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    """A private Redis Cluster of 3 primaries on loopback ports, for the session.

    Its ``url`` (``redis+cluster://...``) is what the services take as ``REDIS_URL``.
    """
    _require(find_redis_server)
    _require(find_redis_cli)
    with LocalRedisCluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture
def tansu_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A private Tansu broker, free to be stopped or restarted (it comes back with no topics)."""
    _require(find_tansu)
    with TansuBroker(log_dir=tmp_path) as broker:
        yield broker


def _require(find_binary: Callable[[], Path]) -> None:
    """Skip the test, saying why, when a server's binary is not on this machine.

    In CI that skip is a failure (tests/skip_policy.py): CI must have every binary.
    """
    try:
        find_binary()
    except BinaryNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def system(
    kafka_bootstrap_servers: str, redis_url: str, namespace: str, tmp_path: Path
) -> Iterator[System]:
    """The services' processes, started on demand in this test's namespace."""
    running = System(kafka_bootstrap_servers, redis_url, namespace, tmp_path)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def settings(system: System, monkeypatch: pytest.MonkeyPatch) -> ProjectorSettings:
    """The projector's settings in this test's namespace, as its commands read them."""
    for name in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "REDIS_URL",
        "KAFKA_TOPIC_PREFIX",
        "REDIS_KEY_PREFIX",
        "PROJECTOR_GROUP_ID",
    ):
        monkeypatch.setenv(name, system.environment[name])
    return ProjectorSettings()
