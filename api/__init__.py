"""The HTTP API: answers the endpoint from the read model alone.

It reads Redis (the key layout of ``projector.keys``) and never imports the
projector's Faust application.
"""
