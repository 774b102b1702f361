"""A loopback TCP proxy that can fail like a broker that stops and comes back.

``outage(seconds)`` resets every open connection (RST, as from a process that
died) and closes the listening socket, so that new connections are refused
until the proxy listens again. To a client that is what a broker restart looks
like on the wire; the broker behind it keeps its records (which an in-memory
Tansu restarted for real would not: it comes back with no topics at all).

``latency_s`` (settable at any time) holds every chunk, either way, that long
before passing it on: a round trip through the proxy takes at least twice as
long, which bounds how fast a client that waits for its replies can go.
``hold()`` passes nothing on, either way, until ``release()``: its clients
wait for Redis, say, for as long as the test needs them to.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time

from devstack.process import Started


class FlakyProxy(Started):
    def __init__(
        self, listen_port: int, target_host: str, target_port: int, latency_s: float = 0.0
    ) -> None:
        self.listen_port = listen_port
        self.target = (target_host, target_port)
        self.latency_s = latency_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.connections = 0  # accepted so far
        self.resets = 0  # connections reset by outages

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    def stop(self) -> None:
        self._call(self._close(reset=False))
        self._call(self._flow(True))  # pumps a hold kept waiting end, their sockets closed
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()  # else its self-pipe socket leaks into a later test

    def outage(self, seconds: float) -> None:
        """Reset every connection, refuse new ones for ``seconds``, then accept again."""
        self._call(self._close(reset=True))
        time.sleep(seconds)
        self._call(self._listen())

    @property
    def open_connections(self) -> int:
        """Connections not yet closed both ways: a client gone (killed) still has
        one while what it sent before is passed on."""
        return len(self._writers) // 2

    def hold(self) -> None:
        """Pass nothing on from now until ``release()``."""
        self._call(self._flow(False))

    def release(self) -> None:
        self._call(self._flow(True))

    async def _flow(self, flowing: bool) -> None:
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.listen_port, reuse_address=True
        )

    async def _close(self, reset: bool) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            if reset and sock is not None:  # close with RST, not FIN
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.resets += 1
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    if self.latency_s:
                        await asyncio.sleep(self.latency_s)
                    await self._flowing.wait()
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))
        self._writers.difference_update((writer, upstream_writer))
