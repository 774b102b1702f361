"""The Redis read model that the projector writes and the API reads.

The only package that knows its layout: the keys and the layout version
(``keys``), how documents are stored (``documents``), the changes the writer
takes (``changes``), the Lua scripts (``lua/``, loaded by ``scripts``), the
connections (``connections``) and the lean RESP clients (``resp``), the writer
(``writer``), the reader (``reader``), the generations and their lifecycle
(``generations``) and the workers' heartbeats (``heartbeats``).
"""
