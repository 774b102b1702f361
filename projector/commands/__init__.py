"""The operator commands: ``rebuild``, ``verify``, ``status`` and ``dlq``."""
