"""The projector: keeps the read model in Redis from the event topics.

    projection/  the pure core: event -> change, rendering, the reference model
    worker/      the Faust worker around it: batching, pipeline, health, metrics
    kafka/       Kafka helpers: records, topics, offsets, replay, dead letters
    commands/    the operator commands: rebuild, verify, status, dlq

It writes through ``readmodel`` and never imports ``api``.
"""
