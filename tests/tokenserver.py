"""A Docker token-spec authorization server for the integration tests.

It stands in for the "auth server" of the Docker token protocol
(https://distribution.github.io/distribution/spec/auth/token/ and
.../spec/auth/oauth/): a registry configured with ``auth: token:`` sends
clients here with a ``Bearer realm=...,service=...,scope=...`` challenge.

Endpoints (both on ``/token``):

- ``GET /token?service=S&scope=A&scope=B`` with Basic credentials, or none
  for an anonymous token; ``offline_token=true`` adds a refresh token.
  Answers ``{"token", "access_token", "expires_in", "issued_at"}``.
- ``POST /token`` with an OAuth2 form body: ``grant_type=password`` with
  ``username``/``password``, or ``grant_type=refresh_token`` with
  ``refresh_token``; ``scope`` is space-separated as in RFC 6749. A refresh
  token is returned when ``access_type=offline`` (or always, when
  ``always_issue_refresh`` is set). ``post_enabled = False`` makes POST answer
  404, as some registries do, so clients' fallback to GET can be tested.

Grants: ``writer`` may pull, push and delete every repository and read the
catalog; ``reader`` may only pull; anonymous clients may pull ``public/*``.
A token grants only the intersection of what was asked and what is allowed:
that is how a real registry ends up answering ``insufficient_scope``.

Tokens are RS256 JWTs whose header carries ``x5c`` (the self-signed
certificate, base64 DER) and ``kid`` (the libtrust key id); the certificate is
written to ``cert_path`` for the registry's ``rootcertbundle``.

Runs on 127.0.0.1, port 0, in one background thread; ``stop()`` joins every
thread it started. Usable from pytest and from plain scripts.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import http.server
import json
import secrets
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

DEFAULT_SERVICE = "ocireg-test-registry"
DEFAULT_ISSUER = "ocireg-test-token-issuer"

# The largest form body the POST endpoint reads; anything bigger is refused.
_MAX_FORM_BYTES = 64 * 1024

READ_WRITE = frozenset({"pull", "push", "delete"})
READ_ONLY = frozenset({"pull"})


@dataclass(frozen=True)
class TokenRequest:
    """One request the token server answered, as tests want to see it."""

    method: str
    scopes: tuple[str, ...]  # sorted, as asked
    service: str | None
    grant_type: str | None  # None for GET
    user: str | None  # None for anonymous or a refused request
    status: int
    offline: bool


@dataclass(frozen=True)
class Access:
    """One entry of a token's ``access`` claim."""

    type: str
    name: str
    actions: tuple[str, ...]

    def claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_key: rsa.RSAPublicKey) -> str:
    """The ``kid`` distribution derives from a key (libtrust format).

    SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32, in
    twelve groups of four separated by colons. distribution uses it when a
    token has no ``x5c``; with ``x5c`` present it is informative only.
    """
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def parse_scope(scope: str) -> tuple[str, str, frozenset[str]] | None:
    """Split ``type:name:actions``; the name may itself contain colons
    (``registry:catalog:*`` has none, but a repository name with a port-like
    part must not break the split), so type is up to the first colon and the
    actions after the last."""
    first = scope.find(":")
    last = scope.rfind(":")
    if first <= 0 or last == first:
        return None
    rtype, name, actions = scope[:first], scope[first + 1 : last], scope[last + 1 :]
    if not name:
        return None
    return rtype, name, frozenset(a for a in actions.split(",") if a)


class TokenServer:
    """The token server. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(
        self,
        workdir: Path,
        *,
        users: dict[str, str] | None = None,
        read_write_users: frozenset[str] = frozenset({"writer"}),
        service: str = DEFAULT_SERVICE,
        issuer: str = DEFAULT_ISSUER,
        expires_in: int = 300,
    ) -> None:
        self.workdir = Path(workdir)
        self.users: dict[str, str] = dict(
            users
            if users is not None
            else {"writer": secrets.token_urlsafe(12), "reader": secrets.token_urlsafe(12)}
        )
        self.read_write_users = read_write_users
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        # Switches tests flip while the server runs.
        self.post_enabled = True
        self.always_issue_refresh = False

        self._lock = threading.Lock()
        self._refresh_tokens: dict[str, str] = {}  # token -> user
        self._requests: list[TokenRequest] = []
        self._issued: list[dict[str, Any]] = []  # claims of every token issued

        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._cert = self._self_signed_certificate()
        self.cert_path = self.workdir / "token-signing-cert.pem"
        self.cert_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode(
            "ascii"
        )
        self._kid = libtrust_key_id(self._key.public_key())

        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> TokenServer:
        if self._httpd is not None:
            raise RuntimeError("token server already started")
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        # Non-daemon handler threads, joined by server_close(): nothing of
        # ours outlives stop(). Handlers speak HTTP/1.0 (one request per
        # connection) and time out idle sockets, so joining cannot hang.
        httpd.daemon_threads = False
        httpd.block_on_close = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="tokenserver"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        if thread is not None:
            thread.join()
        httpd.server_close()

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("token server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    # -- what tests look at -------------------------------------------------

    @property
    def requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def total_requests(self) -> int:
        with self._lock:
            return len(self._requests)

    def counts(self) -> Counter[tuple[str, tuple[str, ...]]]:
        """Requests served, by (method, sorted scopes)."""
        with self._lock:
            return Counter((r.method, r.scopes) for r in self._requests)

    def reset_counts(self) -> None:
        with self._lock:
            self._requests.clear()
            self._issued.clear()

    @property
    def issued_claims(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._issued)

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh_tokens.clear()

    # -- grants and tokens --------------------------------------------------

    def allowed_actions(self, user: str | None, rtype: str, name: str) -> frozenset[str]:
        if rtype == "registry" and name == "catalog":
            return frozenset({"*"}) if user in self.read_write_users else frozenset()
        if rtype != "repository":
            return frozenset()
        if user in self.read_write_users:
            return READ_WRITE
        if user is not None:
            return READ_ONLY
        return READ_ONLY if name.startswith("public/") else frozenset()

    def grant(self, user: str | None, scopes: list[str]) -> list[Access]:
        """The access claim for ``scopes``: asked ∩ allowed, per resource."""
        merged: dict[tuple[str, str], set[str]] = {}
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            rtype, name, asked = parsed
            granted = asked & self.allowed_actions(user, rtype, name)
            if granted:
                merged.setdefault((rtype, name), set()).update(granted)
        return [Access(t, n, tuple(sorted(a))) for (t, n), a in merged.items()]

    def issue_token(
        self,
        user: str | None,
        access: list[Access],
        *,
        expires_in: int | None = None,
        now: float | None = None,
        audience: str | None = None,
    ) -> str:
        """A signed JWT; tests may call it directly to craft tokens."""
        issued = int(time.time() if now is None else now)
        lifetime = self.expires_in if expires_in is None else expires_in
        header = {"typ": "JWT", "alg": "RS256", "kid": self._kid, "x5c": [self._x5c]}
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service if audience is None else audience,
            "exp": issued + lifetime,
            "nbf": issued - 1,
            "iat": issued,
            "jti": secrets.token_hex(16),
            "access": [a.claim() for a in access],
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self._key.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        with self._lock:
            self._issued.append(claims)
        return signing_input + "." + _b64url(signature)

    def _new_refresh_token(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh_tokens[token] = user
        return token

    def _refresh_user(self, token: str) -> str | None:
        with self._lock:
            return self._refresh_tokens.get(token)

    def _record(self, entry: TokenRequest) -> None:
        with self._lock:
            self._requests.append(entry)

    def _check_password(self, user: str, password: str) -> bool:
        expected = self.users.get(user)
        return expected is not None and secrets.compare_digest(
            expected.encode("utf-8"), password.encode("utf-8")
        )

    def _self_signed_certificate(self) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ocireg test token signer")])
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )


@dataclass
class _Reply:
    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]] = field(default_factory=list)


def _issued_at() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _make_handler(server: TokenServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"
        timeout = 5  # an idle client must not pin a handler thread
        server_version = "ocireg-test-tokenserver"

        def log_message(self, format: str, *args: Any) -> None:
            # Requests are recorded in TokenServer.requests; keep stderr quiet.
            pass

        def _send(self, reply: _Reply) -> None:
            payload = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _basic_credentials(self) -> tuple[str, str] | None:
            """(user, password), or None when absent; ValueError when malformed."""
            value = self.headers.get("Authorization")
            if value is None:
                return None
            scheme, _, rest = value.partition(" ")
            if scheme.lower() != "basic":
                raise ValueError("not Basic")
            try:
                decoded = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as error:
                raise ValueError("bad Basic encoding") from error
            user, sep, password = decoded.partition(":")
            if not sep:
                raise ValueError("no colon in Basic credentials")
            return (user, password)

        def _unauthorized(self, message: str) -> _Reply:
            return _Reply(
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": message, "detail": None}]},
                [("WWW-Authenticate", 'Basic realm="ocireg test token server"')],
            )

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
            scopes = sorted(s for v in query.get("scope", []) for s in v.split(" ") if s)
            service = query.get("service", [None])[0]
            offline = query.get("offline_token", ["false"])[0].lower() == "true"
            user: str | None = None
            if url.path != "/token":
                reply = _Reply(404, {"error": "not_found"})
            else:
                try:
                    creds = self._basic_credentials()
                    malformed = False
                except ValueError:
                    creds, malformed = None, True
                if malformed:
                    reply = self._unauthorized("malformed credentials")
                elif creds is not None and not server._check_password(*creds):
                    reply = self._unauthorized("invalid username or password")
                elif service is not None and service != server.service:
                    reply = _Reply(400, {"error": "invalid_request", "details": "unknown service"})
                else:
                    user = creds[0] if creds else None
                    token = server.issue_token(user, server.grant(user, scopes))
                    body: dict[str, Any] = {
                        "token": token,
                        "access_token": token,
                        "expires_in": server.expires_in,
                        "issued_at": _issued_at(),
                    }
                    if user is not None and (offline or server.always_issue_refresh):
                        body["refresh_token"] = server._new_refresh_token(user)
                    reply = _Reply(200, body)
            server._record(
                TokenRequest("GET", tuple(scopes), service, None, user, reply.status, offline)
            )
            self._send(reply)

        def do_POST(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            length_header = self.headers.get("Content-Length", "0")
            length = int(length_header) if length_header.isdigit() else -1
            if url.path != "/token" or not server.post_enabled:
                if 0 < length <= _MAX_FORM_BYTES:
                    self.rfile.read(length)
                server._record(TokenRequest("POST", (), None, None, None, 404, False))
                self._send(_Reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no POST"}]}))
                return
            if length < 0 or length > _MAX_FORM_BYTES:
                server._record(TokenRequest("POST", (), None, None, None, 400, False))
                self._send(_Reply(400, {"error": "invalid_request"}))
                return
            raw = self.rfile.read(length).decode("utf-8", "replace")
            form = urllib.parse.parse_qs(raw, keep_blank_values=True)

            def one(key: str) -> str | None:
                values = form.get(key)
                return values[0] if values else None

            scopes = sorted(s for v in form.get("scope", []) for s in v.split(" ") if s)
            service = one("service")
            grant_type = one("grant_type")
            offline = one("access_type") == "offline"
            user: str | None = None
            if service is not None and service != server.service:
                reply = _Reply(400, {"error": "invalid_request", "error_description": "service"})
            elif grant_type == "password":
                name, password = one("username"), one("password")
                if name is None or password is None or not server._check_password(name, password):
                    reply = _Reply(401, {"error": "invalid_grant"})
                else:
                    user = name
                    reply = self._oauth_reply(user, scopes, offline)
            elif grant_type == "refresh_token":
                refresh = one("refresh_token")
                found = server._refresh_user(refresh) if refresh else None
                if found is None:
                    reply = _Reply(401, {"error": "invalid_grant"})
                else:
                    user = found
                    reply = self._oauth_reply(user, scopes, offline, keep_refresh=refresh)
            else:
                reply = _Reply(400, {"error": "unsupported_grant_type"})
            server._record(
                TokenRequest(
                    "POST", tuple(scopes), service, grant_type, user, reply.status, offline
                )
            )
            self._send(reply)

        def _oauth_reply(
            self, user: str, scopes: list[str], offline: bool, keep_refresh: str | None = None
        ) -> _Reply:
            token = server.issue_token(user, server.grant(user, scopes))
            body: dict[str, Any] = {
                "access_token": token,
                "scope": " ".join(scopes),
                "expires_in": server.expires_in,
                "issued_at": _issued_at(),
            }
            if keep_refresh is not None:
                # A refresh grant answers with the same refresh token, as
                # Docker's auth server does.
                body["refresh_token"] = keep_refresh
            elif offline or server.always_issue_refresh:
                body["refresh_token"] = server._new_refresh_token(user)
            return _Reply(200, body)

    return Handler
