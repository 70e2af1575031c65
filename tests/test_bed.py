"""The integration test bed works against the real registry: set-ups, token
server, seeding with push_raw, skopeo interop, access log, on-disk blobs."""

from __future__ import annotations

import base64
import http.client
import json
import random
import re
import subprocess
import threading
import urllib.parse
from typing import Any

import pytest

import images
import registry_bed
from images import ImageContent, push_raw
from registry_bed import RegistryInstance, start_registry
from tokenserver import TokenServer

pytestmark = pytest.mark.registry


def send(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def fetch_token(reg: RegistryInstance, scopes: list[str], creds: tuple[str, str] | None) -> str:
    server = reg.token_server
    assert server is not None
    query = urllib.parse.urlencode([("service", server.service), *(("scope", s) for s in scopes)])
    status, _, body = send(
        "GET", f"{server.realm}?{query}", headers=basic(*creds) if creds else None
    )
    assert status == 200, body
    token: str = json.loads(body)["token"]
    return token


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def decode(part: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return result

    header, claims, _signature = token.split(".")
    return decode(header), decode(claims)


def auth_headers(reg: RegistryInstance, repo: str, actions: str = "pull") -> dict[str, str]:
    """Writer credentials for ``reg`` in whatever form its set-up wants."""
    if reg.setup == "basic":
        return basic(*reg.writer.creds)
    if reg.setup == "token":
        token = fetch_token(reg, [f"repository:{repo}:{actions}"], reg.writer.creds)
        return {"Authorization": f"Bearer {token}"}
    return {}


def creds_for(reg: RegistryInstance) -> tuple[str, str] | None:
    return reg.writer.creds if reg.auth_required else None


def run_skopeo(skopeo: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([skopeo, *args], capture_output=True, text=True, timeout=120, check=False)


# -- /v2/ and challenges --------------------------------------------------------


def test_v2_without_credentials(registry: RegistryInstance) -> None:
    status, headers, _ = send("GET", f"{registry.url}/v2/")
    challenges = headers.get_all("WWW-Authenticate") or []
    if registry.setup == "none":
        assert (status, challenges) == (200, [])
    elif registry.setup == "basic":
        assert status == 401
        assert challenges == [f'Basic realm="{registry_bed.BASIC_REALM}"']
    else:
        server = registry.token_server
        assert server is not None
        assert status == 401
        assert challenges == [f'Bearer realm="{server.realm}",service="{server.service}"']


def test_v2_with_credentials(registry: RegistryInstance) -> None:
    status, _, body = send("GET", f"{registry.url}/v2/", headers=auth_headers(registry, "any"))
    assert (status, body) == (200, b"{}")


def test_basic_refuses_wrong_password(registry_basic: RegistryInstance) -> None:
    status, _, _ = send(
        "GET", f"{registry_basic.url}/v2/", headers=basic(registry_basic.writer.name, "wrong")
    )
    assert status == 401


def test_repository_challenge_names_the_scope(registry_token: RegistryInstance) -> None:
    status, headers, _ = send("GET", f"{registry_token.url}/v2/some/repo/tags/list")
    assert status == 401
    assert 'scope="repository:some/repo:pull"' in headers["WWW-Authenticate"]


# -- push_raw and reading back ------------------------------------------------------

CONTENT_KINDS = {
    "docker": lambda rng: images.docker_image((300, 700), rng=rng),
    "oci": lambda rng: images.oci_image((300,), rng=rng, gzipped=False),
    "oci-index": lambda rng: images.oci_index((100,), rng=rng),
    "docker-list": lambda rng: images.docker_manifest_list((100,), rng=rng),
}


@pytest.mark.parametrize("kind", sorted(CONTENT_KINDS))
def test_push_raw_and_read_back(registry: RegistryInstance, kind: str) -> None:
    content: ImageContent = CONTENT_KINDS[kind](random.Random(f"{registry.setup}-{kind}"))
    repo = f"bed/{kind}"
    digest = push_raw(registry.url, repo, content, tag="v1", auth=creds_for(registry))
    assert digest == content.digest
    headers = {"Accept": content.media_type, **auth_headers(registry, repo)}
    for reference in ("v1", content.digest):
        status, answer, body = send(
            "GET", f"{registry.url}/v2/{repo}/manifests/{reference}", headers=headers
        )
        assert status == 200
        assert body == content.manifest
        assert answer["Docker-Content-Digest"] == content.digest
        assert answer["Content-Type"] == content.media_type
    for child in content.children:
        status, answer, body = send(
            "GET",
            f"{registry.url}/v2/{repo}/manifests/{child.digest}",
            headers={**headers, "Accept": child.media_type},
        )
        assert (status, body) == (200, child.manifest)
    blob = content.all_blobs()[-1]
    status, _, body = send("GET", f"{registry.url}/v2/{repo}/blobs/{blob.digest}", headers=headers)
    assert (status, body) == (200, blob.data)


def test_push_raw_refuses_without_credentials(registry_basic: RegistryInstance) -> None:
    with pytest.raises(images.PushError, match="Basic credentials"):
        push_raw(registry_basic.url, "bed/nocreds", images.oci_image((10,)))


def test_oci_manifest_needs_oci_accept(registry_none: RegistryInstance) -> None:
    # A fact the client relies on (REGISTRY-FACTS.md): confirm it on this build.
    content = images.oci_image((10,))
    push_raw(registry_none.url, "bed/accept", content, tag="t")
    status, _, body = send(
        "GET",
        f"{registry_none.url}/v2/bed/accept/manifests/t",
        headers={"Accept": images.DOCKER_MANIFEST},
    )
    assert status == 404
    assert b"MANIFEST_UNKNOWN" in body


# -- skopeo, an independent client ----------------------------------------------------


@pytest.mark.tools
def test_skopeo_inspect(registry: RegistryInstance, skopeo: str) -> None:
    content = images.docker_image((200,), rng=random.Random(f"skopeo-{registry.setup}"))
    push_raw(registry.url, "bed/skopeo", content, tag="latest", auth=creds_for(registry))
    if registry.token_server is not None:
        registry.token_server.reset_counts()
    args = ["inspect", "--tls-verify=false"]
    if registry.auth_required:
        args += ["--creds", registry.writer.skopeo_creds]
    result = run_skopeo(skopeo, *args, f"docker://{registry.host}/bed/skopeo:latest")
    assert result.returncode == 0, result.stderr
    inspected = json.loads(result.stdout)
    assert inspected["Digest"] == content.digest
    assert inspected["Architecture"] == "amd64"
    assert inspected["Layers"] == [b.digest for b in content.blobs[1:]]
    if registry.token_server is not None:
        asked = registry.token_server.requests
        assert asked, "skopeo never asked the token server"
        assert all(r.status == 200 and r.user == "writer" for r in asked)
        assert any("repository:bed/skopeo:pull" in r.scopes for r in asked)


@pytest.mark.tools
def test_skopeo_with_wrong_password_fails(registry_token: RegistryInstance, skopeo: str) -> None:
    result = run_skopeo(
        skopeo,
        "inspect",
        "--tls-verify=false",
        "--creds",
        f"{registry_token.writer.name}:wrong",
        f"docker://{registry_token.host}/bed/skopeo:latest",
    )
    assert result.returncode != 0
    assert "401" in result.stderr or "unauthorized" in result.stderr.lower()


# -- the token server -------------------------------------------------------------------


def test_token_claims_are_what_distribution_checks(registry_token: RegistryInstance) -> None:
    server = registry_token.token_server
    assert server is not None
    token = fetch_token(registry_token, ["repository:a/b:pull,push"], registry_token.writer.creds)
    header, claims = jwt_parts(token)
    assert header["alg"] == "RS256"
    assert len(header["x5c"]) == 1
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", header["kid"])
    assert claims["iss"] == server.issuer
    assert claims["aud"] == server.service
    assert claims["sub"] == "writer"
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    assert claims["access"] == [{"type": "repository", "name": "a/b", "actions": ["pull", "push"]}]


def test_token_server_refuses_bad_passwords(registry_token: RegistryInstance) -> None:
    server = registry_token.token_server
    assert server is not None
    for user, password in [("writer", "wrong"), ("nobody", "x"), ("reader", "")]:
        status, _, _ = send(
            "GET", f"{server.realm}?service={server.service}", headers=basic(user, password)
        )
        assert status == 401
        form = urllib.parse.urlencode(
            {
                "grant_type": "password",
                "username": user,
                "password": password,
                "service": server.service,
                "client_id": "ocireg-tests",
            }
        ).encode()
        status, _, _ = send(
            "POST",
            server.realm,
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status == 401
    for malformed in ("Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Digest x"):
        status, _, _ = send("GET", server.realm, headers={"Authorization": malformed})
        assert status == 401


@pytest.mark.parametrize(
    ("who", "scope", "expected"),
    [
        ("writer", "repository:x/y:pull,push", ["pull", "push"]),
        ("writer", "repository:x/y:pull", ["pull"]),
        ("reader", "repository:x/y:pull,push", ["pull"]),
        ("reader", "repository:x/y:push", None),
        ("anonymous", "repository:public/y:pull,push", ["pull"]),
        ("anonymous", "repository:x/y:pull", None),
        ("writer", "registry:catalog:*", ["*"]),
        ("reader", "registry:catalog:*", None),
    ],
)
def test_token_grants_only_asked_and_allowed(
    registry_token: RegistryInstance, who: str, scope: str, expected: list[str] | None
) -> None:
    creds = None if who == "anonymous" else registry_token.users[who].creds
    _, claims = jwt_parts(fetch_token(registry_token, [scope], creds))
    actions = [entry["actions"] for entry in claims["access"]]
    assert actions == ([] if expected is None else [expected])


def test_reader_token_lacking_push_is_insufficient_scope(
    registry_token: RegistryInstance,
) -> None:
    token = fetch_token(
        registry_token, ["repository:bed/readonly:pull,push"], registry_token.reader.creds
    )
    status, headers, body = send(
        "POST",
        f"{registry_token.url}/v2/bed/readonly/blobs/uploads/",
        headers={"Authorization": f"Bearer {token}", "Content-Length": "0"},
    )
    assert status == 401
    challenge = headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    # distribution lists the actions in no fixed order ("pull,push" or "push,pull").
    scope = re.search(r'scope="repository:bed/readonly:([a-z,]+)"', challenge)
    assert scope is not None, challenge
    assert sorted(scope.group(1).split(",")) == ["pull", "push"]
    assert b"UNAUTHORIZED" in body


def test_token_for_another_audience_is_refused(registry_token: RegistryInstance) -> None:
    server = registry_token.token_server
    assert server is not None
    access = server.grant("writer", ["repository:bed/aud:pull"])
    token = server.issue_token("writer", access, audience="someone-else")
    status, _, _ = send(
        "GET",
        f"{registry_token.url}/v2/bed/aud/tags/list",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 401


def _post_form(server: TokenServer, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
    status, _, body = send(
        "POST",
        server.realm,
        body=urllib.parse.urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return status, json.loads(body)


def test_oauth_post_password_and_refresh(registry_token: RegistryInstance) -> None:
    server = registry_token.token_server
    assert server is not None
    content = images.oci_image((50,))
    push_raw(registry_token.url, "bed/oauth", content, tag="t", auth=registry_token.writer.creds)
    server.reset_counts()
    status, answer = _post_form(
        server,
        {
            "grant_type": "password",
            "username": "reader",
            "password": registry_token.reader.password,
            "service": server.service,
            "scope": "repository:bed/oauth:pull repository:bed/other:pull",
            "access_type": "offline",
            "client_id": "ocireg-tests",
        },
    )
    assert status == 200
    refresh = answer["refresh_token"]
    status, answer = _post_form(
        server,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": server.service,
            "scope": "repository:bed/oauth:pull",
            "client_id": "ocireg-tests",
        },
    )
    assert status == 200
    assert answer["refresh_token"] == refresh
    status, _, body = send(
        "GET",
        f"{registry_token.url}/v2/bed/oauth/manifests/t",
        headers={
            "Authorization": f"Bearer {answer['access_token']}",
            "Accept": images.OCI_MANIFEST,
        },
    )
    assert (status, body) == (200, content.manifest)
    status, _ = _post_form(
        server,
        {"grant_type": "refresh_token", "refresh_token": "forged", "service": server.service},
    )
    assert status == 401
    assert server.counts() == {
        ("POST", ("repository:bed/oauth:pull", "repository:bed/other:pull")): 1,
        ("POST", ("repository:bed/oauth:pull",)): 1,
        ("POST", ()): 1,
    }
    assert server.total_requests == 3


def test_post_can_be_switched_off(registry_token: RegistryInstance) -> None:
    server = registry_token.token_server
    assert server is not None
    server.post_enabled = False
    try:
        status, _, _ = send("POST", server.realm, body=b"grant_type=password")
        assert status == 404
        token = fetch_token(registry_token, ["repository:x:pull"], registry_token.reader.creds)
        assert jwt_parts(token)[1]["sub"] == "reader"
    finally:
        server.post_enabled = True


def test_get_offline_token_gives_refresh_token(registry_token: RegistryInstance) -> None:
    server = registry_token.token_server
    assert server is not None
    status, _, body = send(
        "GET",
        f"{server.realm}?service={server.service}&offline_token=true&scope=repository:x:pull",
        headers=basic(*registry_token.writer.creds),
    )
    answer = json.loads(body)
    assert status == 200
    assert set(answer) == {"token", "access_token", "expires_in", "issued_at", "refresh_token"}
    assert answer["token"] == answer["access_token"]


# -- access log and storage -----------------------------------------------------------------


def test_access_log_shows_uploads_and_mounts(registry_none: RegistryInstance) -> None:
    content = images.oci_image((64, 128), rng=random.Random("log"))
    before = len(registry_none.access_log_lines())
    push_raw(registry_none.url, "bed/log-src", content, tag="t")
    layer = content.blobs[1]
    status, _, _ = send(
        "POST",
        f"{registry_none.url}/v2/bed/log-dst/blobs/uploads/?mount={layer.digest}&from=bed/log-src",
        headers={"Content-Length": "0"},
    )
    assert status == 201
    lines = registry_none.access_log_lines()[before:]
    assert [(e.method, e.status) for e in lines if "digest=" in e.path] == [("PUT", 201)] * 3
    assert [e.status for e in lines if "mount=" in e.path] == [201]
    assert ("PUT", "/v2/bed/log-src/manifests/t", 201) in [
        (e.method, e.path, e.status) for e in lines
    ]
    assert all(e.user_agent != registry_bed.BED_USER_AGENT for e in lines)


def test_corrupting_blob_on_disk_changes_what_is_served(registry_none: RegistryInstance) -> None:
    content = images.oci_image((256,), gzipped=False)
    push_raw(registry_none.url, "bed/corrupt", content, tag="t")
    layer = content.blobs[1]
    path = registry_none.blob_data_path(layer.digest)
    assert path.read_bytes() == layer.data
    path.write_bytes(b"X" + layer.data[1:])
    status, _, body = send("GET", f"{registry_none.url}/v2/bed/corrupt/blobs/{layer.digest}")
    assert status == 200
    assert body != layer.data
    assert len(body) == len(layer.data)


def test_blob_data_path_refuses_non_digests(registry_none: RegistryInstance) -> None:
    with pytest.raises(ValueError):
        registry_none.blob_data_path("sha256:../../etc/passwd")


def test_second_registry_is_separate(
    registry_none: RegistryInstance, second_registry: RegistryInstance
) -> None:
    assert second_registry.port != registry_none.port
    assert second_registry.storage_dir != registry_none.storage_dir
    content = images.oci_image((10,))
    push_raw(registry_none.url, "bed/only-first", content, tag="t")
    status, _, _ = send(
        "GET",
        f"{second_registry.url}/v2/bed/only-first/manifests/t",
        headers={"Accept": images.OCI_MANIFEST},
    )
    assert status == 404


# -- lifecycle -------------------------------------------------------------------------------


def test_start_and_stop_leave_nothing_behind() -> None:
    threads_before = set(threading.enumerate())
    with start_registry("token") as reg:
        assert reg.running
        assert send("GET", f"{reg.url}/v2/")[0] == 401
        workdir, port = reg.workdir, reg.port
    assert not reg.running
    assert not workdir.exists()
    with pytest.raises(OSError):
        send("GET", f"http://127.0.0.1:{port}/v2/")
    assert set(threading.enumerate()) <= threads_before


def test_start_failure_reports_registry_stderr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(
        registry_bed, "_config_yaml", lambda **_: "version: 0.1\nstorage: {nosuchdriver: {}}\n"
    )
    with pytest.raises(registry_bed.RegistryBedError, match="nosuchdriver"):
        start_registry("none", workdir=tmp_path)


# -- the generated content --------------------------------------------------------------------


def test_index_lists_the_four_platforms() -> None:
    for index in (images.oci_index(), images.docker_manifest_list()):
        platforms = [entry["platform"] for entry in index.parsed()["manifests"]]
        assert platforms == [dict(p) for p in images.PLATFORMS]
        assert platforms[3]["os.version"] == "10.0.17763.1234"
        assert [e["digest"] for e in index.parsed()["manifests"]] == [
            c.digest for c in index.children
        ]


def test_content_is_deterministic_for_a_seed_and_consistent() -> None:
    first = images.docker_image((1000,), rng=random.Random(7))
    again = images.docker_image((1000,), rng=random.Random(7))
    assert first == again
    config, layer = first.blobs
    diff_ids = json.loads(config.data)["rootfs"]["diff_ids"]
    assert diff_ids == [images.diff_id(layer)]
    assert diff_ids != [layer.digest]  # gzip'd: the diff id is of the tar


def test_subject_makes_a_referrer() -> None:
    subject = images.oci_image((10,))
    referrer = images.oci_image((10,), subject=subject, artifact_type="application/x.test")
    assert referrer.parsed()["subject"] == subject.descriptor()
    with pytest.raises(ValueError):
        images.Blob(b"abc", images.sha256_digest(b"abd"), images.OCI_LAYER)
