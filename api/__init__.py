"""The HTTP API: answers the endpoint from the read model alone.

It reads Redis through ``readmodel`` (the reader, the key layout, the stored
documents) and never imports ``projector``.
"""
