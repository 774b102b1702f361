"""``LocalRedisCluster``: a Redis Cluster of primaries (and their replicas) on
loopback ports, for tests.

Each node is ``redis-server --cluster-enabled yes`` keeping nothing on disk
(its cluster config file in its own directory); ``redis-cli --cluster create``
assigns the slots, and with ``replicas`` gives each primary that many
replicas. Nodes are stopped, and their files left in ``log_dir``, when the
context ends. ``DEBUG`` is allowed from loopback, so tests can make a node
sleep (``DEBUG SLEEP``) to fake a stall.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from pathlib import Path

import redis

from devstack.errors import BinaryNotFoundError, ServiceStartError
from devstack.ports import LOOPBACK, is_port_free
from devstack.process import Started
from devstack.redis import RedisServer

BUS_PORT_OFFSET = 10_000
"""A cluster node also listens on its port + 10000 (the cluster bus)."""


def find_redis_cli() -> Path:
    on_path = shutil.which("redis-cli")
    if on_path is None:
        raise BinaryNotFoundError("no redis-cli on the PATH (needed to create a Redis Cluster)")
    return Path(on_path)


def free_cluster_port(taken: set[int]) -> int:
    """A port that is free, and whose cluster bus port is free too."""
    for _ in range(1000):
        port = random.randint(20_000, 50_000)
        candidates = {port, port + BUS_PORT_OFFSET}
        if not candidates & taken and all(is_port_free(p) for p in candidates):
            return port
    raise ServiceStartError("no free pair of ports for a Redis Cluster node")


class RedisClusterNode(RedisServer):
    name = "redis-cluster-node"

    def command(self) -> list[str]:
        return [
            *super().command(),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            f"nodes-{self.port}.conf",
            "--cluster-node-timeout",
            "5000",
            "--enable-debug-command",
            "local",
        ]

    def client(self) -> redis.Redis:
        """A plain client of this node (not a cluster client)."""
        return redis.Redis(self.host, self.port, socket_timeout=30)

    def kill(self) -> None:
        """SIGKILL, as in a crash."""
        if self._process is not None:
            self._process.kill()
            self._process.stop()
            self._process = None


class LocalRedisCluster(Started):
    """``primaries`` nodes sharing the 16384 slots, each with ``replicas`` replicas."""

    def __init__(
        self,
        log_dir: Path,
        primaries: int = 3,
        ready_timeout: float = 30.0,
        replicas: int = 0,
    ) -> None:
        self.log_dir = log_dir
        self.ready_timeout = ready_timeout
        self.replicas = replicas
        taken: set[int] = set()
        self.nodes: list[RedisClusterNode] = []
        for i in range(primaries * (1 + replicas)):
            port = free_cluster_port(taken)
            taken |= {port, port + BUS_PORT_OFFSET}
            self.nodes.append(RedisClusterNode(port, log_dir=log_dir / f"node-{i}"))

    @property
    def addresses(self) -> list[str]:
        return [f"{LOOPBACK}:{node.port}" for node in self.nodes]

    @property
    def url(self) -> str:
        """The URL the services take (``REDIS_URL``)."""
        return "redis+cluster://" + ",".join(self.addresses)

    def start(self) -> None:
        cli = find_redis_cli()
        try:
            for node in self.nodes:
                node.start()
            subprocess.run(
                [
                    str(cli),
                    "--cluster",
                    "create",
                    *self.addresses,
                    "--cluster-replicas",
                    str(self.replicas),
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=self.ready_timeout,
            )
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        """Until every node sees every slot served and every other node."""
        deadline = time.monotonic() + self.ready_timeout
        while not all(self._node_ready(node) for node in self.nodes):
            if time.monotonic() > deadline:
                raise ServiceStartError("the Redis Cluster did not become ready")
            time.sleep(0.1)

    def _node_ready(self, node: RedisClusterNode) -> bool:
        client = redis.Redis(node.host, node.port, socket_timeout=1)
        try:
            info = client.cluster("INFO")
            replication = client.info("replication")
        except redis.RedisError:
            return False
        finally:
            client.close()
        return (
            str(info.get("cluster_state")) == "ok"
            and str(info.get("cluster_slots_ok")) == "16384"
            and str(info.get("cluster_known_nodes")) == str(len(self.nodes))
            and replication.get("master_link_status", "up") == "up"
        )

    def primary_of(self, slot_key: str) -> RedisClusterNode:
        """The running primary that serves ``slot_key``'s slot (the others
        answer MOVED)."""
        for node in self.nodes:
            if not node.is_running():
                continue
            with node.client() as client:
                if client.info("replication")["role"] != "master":
                    continue
                try:
                    client.exists(slot_key)
                except redis.ResponseError:
                    continue  # MOVED: not this one
                return node
        raise LookupError(f"no running primary serves {slot_key!r}")

    def replica_of(self, primary: RedisClusterNode) -> RedisClusterNode:
        """A running replica of ``primary``."""
        for node in self.nodes:
            if node is primary or not node.is_running():
                continue
            with node.client() as client:
                info = client.info("replication")
            if info["role"] == "slave" and int(info["master_port"]) == primary.port:
                return node
        raise LookupError(f"no running replica of {primary!r}")

    def keys_per_node(self, match: str) -> list[int]:
        """How many keys match on each node, counted with a plain client per node
        (not through a cluster client)."""
        counts = []
        for node in self.nodes:
            with redis.Redis(node.host, node.port, socket_timeout=5) as client:
                counts.append(sum(1 for _ in client.scan_iter(match=match, count=1000)))
        return counts

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
