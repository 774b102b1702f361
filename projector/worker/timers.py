"""What runs beside the agent: timers that prune, watch for a lost read model
and measure the consumer lag, and tasks that write the worker's heartbeat and
serve ``/metrics`` and ``/healthz``.

A lost read model is rebuilt by the worker itself (``projector/worker/recovery.py``);
the watch notices it even when no event arrives.
"""

from __future__ import annotations

import asyncio
import logging

import faust

from projector.settings import ProjectorSettings
from projector.worker.gauges import ReadModelGauges
from projector.worker.health import heartbeat as heartbeat_of
from projector.worker.health import worker_id
from projector.worker.metrics import MetricsServer, measure_lag
from projector.worker.resources import Resources
from readmodel.generations import LayoutMismatch, ReadModelLost
from readmodel.heartbeats import HeartbeatWriter

logger = logging.getLogger(__name__)


def add_timers(app: faust.App, settings: ProjectorSettings, resources: Resources) -> None:
    """Give ``app`` the worker's timers and, with a metrics port, its metrics task."""
    health = resources.health

    @app.timer(interval=settings.prune_interval_s)  # type: ignore[untyped-decorator]
    async def prune() -> None:
        await resources.ready()
        try:
            freed = 0
            for store in await resources.generations.writers():
                freed += await store.prune()
        except (ReadModelLost, LayoutMismatch):
            return  # being rebuilt, or to be rebuilt: nothing of it to prune yet
        except Exception:
            logger.exception("pruning failed; next try in %.0fs", settings.prune_interval_s)
            return
        if freed:
            logger.info("pruned %d ended meetings and expired tombstones", freed)

    @app.timer(interval=settings.heartbeat_s)  # type: ignore[untyped-decorator]
    async def watch_read_model() -> None:
        """Notice a lost read model even when no event arrives (it then rebuilds),
        and lost writes on a quiet partition (``projector/worker/healing.py``)."""
        await resources.ready()
        try:
            await resources.generations.writers()
            if resources.healer is not None:
                await resources.healer.check()  # lost writes: applied again
        except ReadModelLost:
            pass  # being rebuilt: ``writers`` has told the rebuilder
        except Exception as exc:
            logger.warning("cannot read the read model's generations: %r", exc)

    # The lists are counted on every sixth measurement (SSCAN and ZCARDs).
    read_model_gauges = ReadModelGauges(settings.key_prefix, 6 * settings.lag_interval_s)

    @app.timer(interval=settings.lag_interval_s)  # type: ignore[untyped-decorator]
    async def lag() -> None:
        names = settings.topics.names()
        try:
            assigned = [(tp.topic, tp.partition) for tp in app.consumer.assignment()]
            async with asyncio.timeout(max(settings.lag_interval_s, 10.0)):
                health.lag = await measure_lag(
                    settings.kafka,
                    settings.group_id,
                    names,
                    [tp for tp in assigned if tp[0] in names],
                )
        except Exception as exc:
            logger.warning("cannot measure the consumer lag: %r", exc)
        if resources.redis is not None:
            try:
                await read_model_gauges.measure(resources.redis)
            except Exception as exc:
                logger.warning("cannot read the read model's gauges: %r", exc)

    worker = worker_id()
    heartbeats = HeartbeatWriter(settings.key_prefix, worker, settings.heartbeat_s)

    @app.task  # type: ignore[untyped-decorator]
    async def heartbeat() -> None:
        """At once, then every ``heartbeat_s`` (a Faust timer fires first after one
        interval, and the API is not ready before a worker's first heartbeat)."""
        while True:
            await heartbeats.beat(resources.redis, heartbeat_of(worker, health))
            await asyncio.sleep(settings.heartbeat_s)

    if settings.metrics_port:

        @app.task  # type: ignore[untyped-decorator]
        async def serve_metrics() -> None:
            server = MetricsServer(health, "0.0.0.0", settings.metrics_port)
            try:
                await server.start()
                await asyncio.Event().wait()  # until the worker stops (cancels this)
            except OSError:
                logger.exception("cannot serve metrics on port %d", settings.metrics_port)
            finally:
                await server.stop()
