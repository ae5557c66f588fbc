"""A TCP proxy the tests control, to make a database hang or vanish and come back, and to
count the connections a client holds open to what is behind it."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode = "open"
        self.connections = 0  # accepted so far: who came this way
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.open = 0  # client connections passing through now
        self.peak = 0  # the most there ever were at once

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        self.restore()
        self._close_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def hang(self) -> None:
        """Keep every connection open but pass nothing: queries wait forever."""
        self.mode = "hang"
        self._flowing.clear()

    def cut(self) -> None:
        """Drop every connection and refuse new ones, as a stopped server would."""
        self.mode = "cut"
        self._flowing.set()
        self._close_all()

    def restore(self) -> None:
        self.mode = "open"
        self._flowing.set()

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.mode == "cut":
            writer.close()
            return
        await self._flowing.wait()
        if self.mode == "cut":
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        self.open += 1
        self.peak = max(self.peak, self.open)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self.open -= 1
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                if self.mode == "cut":
                    break
                writer.write(data)
                await writer.drain()
        writer.close()
