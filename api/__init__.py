"""The HTTP API: answers the endpoint from the read model alone.

It reads Redis (the key layout of ``projector.keys``, the documents as
``projector.documents`` stores them) and never imports the projector's Faust
application.
"""
