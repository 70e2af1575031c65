"""The very same flows under asyncio: an asyncio + h11 transport against the real registry.

The transport below is deliberately minimal (one connection per request, plain
HTTP): it exists to show that the flows, auth included, need nothing but a loop
that performs their effects.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse

import h11

import ocireg
from ocireg import Digest, Request, Response, Session, flows, run_flow_async
from registry_bed import RegistryInstance
from test_registry import seeded


class _Stream:
    def __init__(self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conn, self.reader, self.writer = conn, reader, writer
        self.pending = b""
        self.done = False

    async def readinto(self, buffer: bytearray | memoryview, /) -> int:
        while not self.pending and not self.done:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.reader.read(1 << 20))
            elif isinstance(event, h11.Data):
                self.pending = bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.done = True
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    async def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
            await self.writer.wait_closed()


class AsyncH11Transport:
    """asyncio streams + h11; a new connection per request."""

    async def send(self, request: Request, /) -> Response:
        url = urllib.parse.urlsplit(request.url)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        conn = h11.Connection(h11.CLIENT)
        target = url.path + (f"?{url.query}" if url.query else "")
        headers = [("Host", url.netloc), ("Connection", "close"), *request.headers]
        writer.write(conn.send(h11.Request(method=request.method, target=target, headers=headers)))
        body = request.body
        if body is not None:
            chunks = [body] if isinstance(body, bytes | bytearray | memoryview) else body
            for chunk in chunks:
                writer.write(conn.send(h11.Data(data=bytes(chunk))))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(1 << 20))
            elif isinstance(event, h11.Response):
                pairs = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers)
                return Response(event.status_code, pairs, request, _Stream(conn, reader, writer))

    async def close(self) -> None:
        pass


def test_flows_run_unchanged_under_asyncio_with_token_auth(registry_token: RegistryInstance) -> None:
    seed = seeded(registry_token)
    session = Session(registry_token.url, credentials=ocireg.Credentials(*registry_token.writer.creds))
    transport = AsyncH11Transport()

    async def main() -> tuple[set[str], ocireg.ManifestResult, bytes]:
        now = time.time()
        page = await run_flow_async(flows.tags_page(session, seed.repo, flows.tags_url(session, seed.repo), now=now),
                                    transport)
        result = await run_flow_async(flows.get_manifest(session, seed.repo, "oci", now=now), transport)
        layer = seed.oci.blobs[1]
        response = await run_flow_async(flows.open_blob(session, seed.repo, Digest.parse(layer.digest), now=now),
                                        transport)
        data = bytearray(len(layer.data) + 1)
        got = 0
        while n := await response.stream.readinto(memoryview(data)[got:]):
            got += n
        await response.stream.close()
        return set(page.items), result, bytes(data[:got])

    tags, result, blob = asyncio.run(main())
    assert tags >= seed.tags
    assert result.body == seed.oci.manifest and str(result.digest) == seed.oci.digest
    assert blob == seed.oci.blobs[1].data
    assert session.auth.token_requests == 1  # the same token cache as under the blocking driver
