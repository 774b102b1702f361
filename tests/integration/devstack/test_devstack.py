"""The embedded servers start, answer, restart, and leave no process behind."""

import os
from pathlib import Path

import pytest
import redis
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from devstack import services as services_module
from devstack.kafka import TansuBroker
from devstack.redis import RedisServer
from devstack.services import provide_services


def test_redis_server_answers_and_comes_back_empty_after_restart(
    redis_server: RedisServer,
) -> None:
    with redis.Redis.from_url(redis_server.url) as client:
        client.set("greeting", "hello")
        assert client.get("greeting") == b"hello"
    old_pid = redis_server.pid

    redis_server.restart()

    with redis.Redis.from_url(redis_server.url) as client:
        assert client.dbsize() == 0
    assert redis_server.url.endswith(f":{redis_server.port}/0")
    assert old_pid is not None and not _alive(old_pid)


async def test_tansu_broker_answers_metadata_and_again_after_restart(
    tansu_broker: TansuBroker,
) -> None:
    assert await _topics(tansu_broker.bootstrap_servers, create="devstack-probe") == {
        "devstack-probe"
    }
    old_pid = tansu_broker.pid

    tansu_broker.restart()

    assert await _topics(tansu_broker.bootstrap_servers) == set()  # in memory: all gone
    assert old_pid is not None and not _alive(old_pid)


def test_stopped_servers_leave_no_process(tmp_path: Path) -> None:
    with TansuBroker(log_dir=tmp_path) as broker, RedisServer(log_dir=tmp_path) as server:
        pids = [broker.pid, server.pid]
    assert all(pid is not None and not _alive(pid) for pid in pids)
    assert not broker.is_running() and not server.is_running()


def test_services_from_the_environment_win_each_on_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(services_module, "docker_available", lambda: False)

    with provide_services(log_dir=tmp_path) as provided:
        assert (provided.bootstrap_servers, provided.kafka_origin) == (
            "kafka.example:9092",
            "environment",
        )
        assert provided.redis_origin == "embedded"
        with redis.Redis.from_url(provided.redis_url) as client:
            assert client.ping()


async def _topics(bootstrap_servers: str, create: str | None = None) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    await admin.start()
    try:
        if create is not None:
            await admin.create_topics([NewTopic(create, num_partitions=1, replication_factor=1)])
        return {topic for topic in await admin.list_topics() if not topic.startswith("__")}
    finally:
        await admin.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
