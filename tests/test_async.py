"""The very same flows under asyncio, over the shipped asyncio + h11 transport, against
the real registry (token auth).  The transport's own conformance is in
``test_async_transport.py``.
"""

from __future__ import annotations

import asyncio
import time

import ocireg
from ocireg import Digest, Session, flows, run_flow_async
from ocireg_h11 import AsyncH11Transport
from registry_bed import RegistryInstance
from test_registry import seeded


def test_flows_run_unchanged_under_asyncio_with_token_auth(registry_token: RegistryInstance) -> None:
    seed = seeded(registry_token)
    session = Session(registry_token.url, credentials=ocireg.Credentials(*registry_token.writer.creds))

    async def main() -> tuple[set[str], ocireg.ManifestResult, bytes]:
        transport = AsyncH11Transport()
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
        await transport.close()
        return set(page.items), result, bytes(data[:got])

    tags, result, blob = asyncio.run(main())
    assert tags >= seed.tags
    assert result.body == seed.oci.manifest and str(result.digest) == seed.oci.digest
    assert blob == seed.oci.blobs[1].data
    assert session.auth.token_requests == 1  # the same token cache as under the blocking driver
