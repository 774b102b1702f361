"""The projector: keeps the read model in Redis from the event topics.

Its pure core (``changes``, ``render``, ``memory``) has no I/O; ``store``
applies changes to Redis; ``app`` is the Faust worker around them.
"""
