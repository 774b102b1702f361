"""How far each Kafka partition is applied in a generation, on every Redis node.

After a batch's writes and before its acknowledgment, the projector records
the runs of offsets the batch covered (``record``) in one positions hash per
node the read model lives on (``lua/positions.lua``): on one Redis, one key;
on a Redis Cluster, one key per primary, in a slot that primary serves (hash
tag ``{p<i>}``, the lowest ``i`` whose slot it serves; chosen again when the
slots move). Each node runs the record after the batch's writes to it, in its
own command order. A node's snapshot (RDB), append-only file and replication
stream each hold a prefix of its command stream, so a node that comes back
without some writes (restarted from an older snapshot, a replica promoted
before it had them) comes back without the later records too: its hash is a
faithful "applied on this node up to". A record only moves a position
forward by a run that touches it, so nothing lost is ever claimed again.

The read model's position of a partition is the least over the nodes
(``applied``); a node without the hash counts as having applied nothing. The
projector compares it with its consumer group's committed offsets and, where
Redis is behind, seeks back and applies again (``docs/healing.md``). The API
reads the same positions for consistency tokens (issue 15).

Field names are ``"<topic>:<partition>"``, values the next offset applied (the
record at ``value - 1`` and every one before it is applied). A run applied
past a gap waits in ``"<topic>:<partition>|i"`` = ``"<from>-<to>"`` until the
position reaches it.

Every record also publishes, on ``Control.positions_channel``, one message per
node: ``"<generation> <node tag> <topic>:<partition>:<next>,..."``, the node's
positions of the partitions the batch covered after the record (a Redis
Cluster delivers it to subscribers on every node). A subscriber keeps the
least per partition over the nodes it knows (``read`` gives the starting
point), so it learns of every change without polling.

``PositionBook(min_replicas=N)`` also waits, after the record on each node,
until N replicas of that node have everything up to it (``WAIT``); fewer in
``wait_timeout_ms`` raises ``ReplicationTimeout``, and the caller applies the
batch again rather than acknowledging it.

Errors: ``ReplicationTimeout``; Redis's own (``redis.exceptions``) otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from readmodel.connections import RedisClient
from readmodel.keys import Control, Keyspace, as_text
from readmodel.scripts import Script, ScriptSet

logger = logging.getLogger(__name__)

Partition = tuple[str, int]
"""A Kafka topic and partition."""

SINGLE_NODE_TAG = "p0"
ISLAND = "|i"


class ReplicationTimeout(Exception):
    """Fewer replicas than required confirmed a batch within the wait."""


@dataclass(frozen=True, slots=True)
class Run:
    """Records ``first`` to ``next - 1`` of a partition, applied."""

    topic: str
    partition: int
    first: int
    next: int

    @property
    def field(self) -> str:
        return field_of((self.topic, self.partition))


def field_of(partition: Partition) -> str:
    return f"{partition[0]}:{partition[1]}"


def partition_of(field: bytes | str) -> Partition | None:
    """The partition a field names; None for an island or a foreign field."""
    text = as_text(field)
    topic, _, number = text.rpartition(":")
    if not topic or not number.isdigit():
        return None
    return topic, int(number)


def parse_positions(fields: Mapping[Any, Any]) -> dict[Partition, int]:
    """A positions hash as read (``HGETALL``): partition -> next offset applied."""
    positions: dict[Partition, int] = {}
    for field, value in fields.items():
        partition = partition_of(field)
        if partition is not None:
            positions[partition] = int(value)
    return positions


def least(nodes: Iterable[Mapping[Partition, int] | None]) -> dict[Partition, int] | None:
    """The positions every node has reached; a node without a hash (None) has
    applied nothing. None when no node has one (nothing was ever recorded)."""
    nodes = list(nodes)
    if all(node is None for node in nodes):
        return None
    partitions = {p for node in nodes if node is not None for p in node}
    return {
        p: min(0 if node is None else node.get(p, 0) for node in nodes) for p in sorted(partitions)
    }


def runs_of(offsets: Iterable[tuple[str, int, int]]) -> list[Run]:
    """The runs of consecutive offsets, per partition, in the order given
    (``(topic, partition, offset)`` as a batch delivered them)."""
    runs: list[Run] = []
    last: dict[Partition, int] = {}  # partition -> index in runs of its open run
    for topic, partition, offset in offsets:
        key = (topic, partition)
        index = last.get(key)
        if index is not None and runs[index].next == offset:
            run = runs[index]
            runs[index] = Run(topic, partition, run.first, offset + 1)
        else:
            last[key] = len(runs)
            runs.append(Run(topic, partition, offset, offset + 1))
    return runs


@dataclass(frozen=True, slots=True)
class Node:
    """A node the read model lives on, its positions key, a client to it."""

    tag: str
    key: str
    client: Redis | RedisCluster


class PositionBook:
    """The positions of one generation on every node of ``redis``."""

    def __init__(
        self,
        redis: RedisClient,
        keyspace: Keyspace,
        *,
        min_replicas: int = 0,
        wait_timeout_ms: int = 1000,
        publish: bool = True,
    ) -> None:
        if min_replicas < 0 or wait_timeout_ms < 0:
            raise ValueError("min_replicas and wait_timeout_ms cannot be negative")
        self.redis = redis
        self.keyspace = keyspace
        self.min_replicas = min_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self.channel = Control(keyspace.prefix).positions_channel if publish else ""
        self._script = Script("positions")
        self._scripts = ScriptSet(self._script)
        self._nodes: list[Node] | None = None
        self._clients: dict[str, Redis] = {}
        self._owners: dict[str, str] = {}  # tag -> node name, as chosen

    # -- writing ---------------------------------------------------------------

    async def record(self, runs: Sequence[Run]) -> dict[Partition, int]:
        """Record ``runs`` on every node (after the batch's writes there);
        each partition's position after it, the least over the nodes.

        With ``min_replicas``, returns only once that many replicas of every
        node confirm the record; else raises ``ReplicationTimeout``.
        """
        if not runs:
            return {}
        nodes = await self.nodes()
        args: list[Any] = []
        for run in runs:
            args.extend((run.field, run.first, run.next))
        try:
            replies = await asyncio.gather(*(self._record_on(node, args) for node in nodes))
        except Exception:
            self._nodes = None  # the slots may have moved: choose the keys again
            raise
        positions: dict[Partition, int] = {}
        for reply in replies:
            on_node = {
                (run.topic, run.partition): int(v) for run, v in zip(runs, reply, strict=True)
            }
            for key, value in on_node.items():  # the value after the partition's last run
                positions[key] = min(positions.get(key, value), value)
        return positions

    async def _record_on(self, node: Node, args: list[Any]) -> list[Any]:
        message = f"{self.keyspace.generation} {node.tag}"
        return await self._scripts.run(
            node.client, partial(self._evalsha_then_wait, node, [self.channel, message, *args])
        )

    async def _evalsha_then_wait(self, node: Node, args: list[Any]) -> list[Any]:
        # One connection for both: WAIT counts the writes up to this
        # connection's last command, which is the record.
        pipe = node.client.pipeline(transaction=False)
        self._script.queue(pipe, [node.key], args)
        if self.min_replicas:
            pipe.execute_command("WAIT", self.min_replicas, self.wait_timeout_ms)
        replies = await pipe.execute()
        if self.min_replicas and int(replies[1]) < self.min_replicas:
            raise ReplicationTimeout(
                f"{replies[1]} of {self.min_replicas} replicas of Redis node {node.tag} "
                f"confirmed the batch within {self.wait_timeout_ms} ms"
            )
        return list(replies[0])

    async def adopt(self, baseline: Mapping[Partition, int]) -> None:
        """Take ``baseline`` as applied where a node has no position yet
        (a generation written before positions were recorded)."""
        if not baseline:
            return
        for node in await self.nodes():
            pipe = node.client.pipeline(transaction=False)
            for partition, offset in baseline.items():
                pipe.hsetnx(node.key, field_of(partition), offset)
            await pipe.execute()

    # -- reading ---------------------------------------------------------------

    async def read(self) -> dict[str, dict[Partition, int] | None]:
        """Each node's positions by its tag; None for a node without the hash."""
        nodes = await self.nodes()
        try:
            hashes = await asyncio.gather(*(node.client.hgetall(node.key) for node in nodes))
        except Exception:
            self._nodes = None
            raise
        return {
            node.tag: parse_positions(fields) if fields else None
            for node, fields in zip(nodes, hashes, strict=True)
        }

    async def applied(self) -> dict[Partition, int] | None:
        """How far each partition is applied on every node (``least``)."""
        return least((await self.read()).values())

    # -- nodes -----------------------------------------------------------------

    async def nodes(self) -> list[Node]:
        """The nodes that serve slots, each with its positions key."""
        if self._nodes is not None and self._still_owned():
            return self._nodes
        redis = self.redis
        if not isinstance(redis, RedisCluster):
            self._nodes = [Node(SINGLE_NODE_TAG, self.keyspace.positions(SINGLE_NODE_TAG), redis)]
            return self._nodes
        await redis.initialize()
        if self._nodes is not None:  # the slots moved, or a node failed: ask again
            await redis.nodes_manager.initialize()
        tags = choose_tags(redis)
        self._owners = {tag: node.name for tag, node in tags.items()}
        self._nodes = [
            Node(tag, self.keyspace.positions(tag), self._client_of(node))
            for tag, node in sorted(tags.items())
        ]
        return self._nodes

    def _still_owned(self) -> bool:
        redis = self.redis
        if not isinstance(redis, RedisCluster):
            return True
        manager = redis.nodes_manager
        primaries = {node.name for node in redis.get_primaries()}
        if primaries != set(self._owners.values()):
            return False
        return all(
            manager.slots_cache.get(redis.keyslot(f"{{{tag}}}"), [None])[0] is not None
            and manager.slots_cache[redis.keyslot(f"{{{tag}}}")][0].name == name
            for tag, name in self._owners.items()
        )

    def _client_of(self, node: ClusterNode) -> Redis:
        client = self._clients.get(node.name)
        if client is None:
            kwargs = {k: v for k, v in node.connection_kwargs.items() if k != "event_dispatcher"}
            pool = BlockingConnectionPool(
                connection_class=node.connection_class, max_connections=4, timeout=10, **kwargs
            )
            client = self._clients[node.name] = Redis.from_pool(pool)
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        self._nodes = None


def choose_tags(cluster: RedisCluster, limit: int = 1 << 20) -> dict[str, ClusterNode]:
    """For each primary that serves a slot, the lowest tag ``p<i>`` in its slots."""
    manager = cluster.nodes_manager
    serving = {nodes[0].name for nodes in manager.slots_cache.values() if nodes}
    tags: dict[str, ClusterNode] = {}
    found: set[str] = set()
    for i in range(limit):
        if found == serving:
            break
        tag = f"p{i}"
        owners = manager.slots_cache.get(cluster.keyslot(f"{{{tag}}}"))
        if owners and owners[0].name not in found:
            found.add(owners[0].name)
            tags[tag] = owners[0]
    return tags
