"""HTTP over a bare socket, for what aiohttp's client will not send: bytes that are not
UTF-8 in a header, a body that trickles or stops halfway."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from multidict import CIMultiDict


@dataclass
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    def error_code(self) -> str:
        assert self.headers["Content-Type"].startswith("application/json"), self
        error = json.loads(self.body)["error"]
        assert error["message"].endswith(".")
        return str(error["code"])


def raw_request(
    method: str, path: bytes | str, headers: dict[str, bytes], body: bytes = b""
) -> bytes:
    target = path.encode() if isinstance(path, str) else path
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: api.test"]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@contextlib.asynccontextmanager
async def connection(
    host: str, port: int
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers: CIMultiDict[str] = CIMultiDict(line.partition(": ")[::2] for line in lines)
    body = await reader.readexactly(int(headers.get("Content-Length", "0")))
    return Answer(int(status_line.split()[1]), headers, body)


async def send(host: str, port: int, request: bytes) -> Answer:
    async with connection(host, port) as (reader, writer):
        writer.write(request)
        return await asyncio.wait_for(read_answer(reader), 15)
