"""Where a password may go when a registry names a token realm, over real sockets.

A registry that is not CNCF distribution (distribution never names a realm on
another address) is played by an in-process server on 127.0.0.1; the token server
sits on 127.0.0.2, another loopback address standing for another machine or
service (go-containerregistry's rule: IP literal realms only as the registry's own
host).  Each test runs over both transports.
"""

from __future__ import annotations

import base64
import json

import pytest

import ocireg
from conftest import make_transport
from servers import Received, RouteServer

PASSWORD = "s3cr3t-Realm-Passw0rd"


def challenge(realm: str) -> tuple[tuple[str, str], ...]:
    return (("WWW-Authenticate", f'Bearer realm="{realm}",service="svc",scope="repository:team/app:pull"'),)


def carries_the_password(request: Received) -> bool:
    authorization = request.header("Authorization") or ""
    decoded = ""
    if authorization.lower().startswith("basic "):
        decoded = base64.b64decode(authorization[6:]).decode()
    return PASSWORD in decoded or PASSWORD in request.path or PASSWORD.encode() in request.body


def pull_manifest(registry: RouteServer, transport_name: str) -> None:
    transport = make_transport(transport_name)
    try:
        reg = ocireg.Registry(registry.url, username="alice", password=PASSWORD,
                              transport=transport)  # type: ignore[arg-type]
        reg.manifest("team/app", "latest")
    finally:
        transport.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("realm_host", ["127.0.0.2", "0.0.0.0"])
def test_a_realm_on_another_ip_literal_gets_no_password(transport_name: str, realm_host: str) -> None:
    with RouteServer(host="127.0.0.2") as tokens, RouteServer() as registry:
        tokens.route("/token", body=json.dumps({"token": "anonymous"}).encode())
        realm = f"{tokens.url}/token".replace("127.0.0.2", realm_host)
        registry.route("/v2/team/app/manifests/latest", status=401, headers=challenge(realm))
        with pytest.raises(ocireg.RegistryError):
            pull_manifest(registry, transport_name)
        if realm_host == "127.0.0.2":
            assert tokens.requests, "the realm was asked anonymously"
        assert not any(carries_the_password(r) for r in tokens.requests)
        assert not any(r.header("Authorization") for r in tokens.requests)


def test_a_realm_beside_the_registry_gets_the_password(transport_name: str) -> None:
    # The control: the same set-up with the token server on the registry's own host.
    with RouteServer() as tokens, RouteServer() as registry:
        tokens.route("/token", body=json.dumps({"token": "granted"}).encode())
        registry.route("/v2/team/app/manifests/latest", status=401, headers=challenge(f"{tokens.url}/token"))
        with pytest.raises(ocireg.Unauthorized):
            pull_manifest(registry, transport_name)
        assert any(carries_the_password(r) for r in tokens.requests)
