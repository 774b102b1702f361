"""Kafka helpers: records, topics, offsets, replay and dead letters."""
