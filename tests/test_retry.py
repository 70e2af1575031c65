"""Retries, Retry-After, deadlines and rate-limit headers: the core's rules, then the wire.

The rules run on scripted answers with a fake clock and a recorded sleep, so no
test waits; then the same retries over every transport and both drivers against a
raw server that answers 429 first, and downloads and uploads cut off midway in
front of the real registry (see test_resume in this file's second half).
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ocireg
import ocireg.flows
from ocireg import Request, Session
from ocireg._driver import Runner
from ocireg._retry import RateLimit, RetryPolicy, retry_after
from registry_bed import RegistryInstance
from scripted import ScriptedTransport, ok_json
from servers import READ, CuttingProxy, ScriptedServer, Send, response
from test_drivers import DRIVERS, open_driven
from test_push_copy import LogWindow

REGISTRY = "https://registry.example"
TAGS = {"name": "app", "tags": ["a", "b"]}


class Clock:
    """A fake clock that moves only when the flow sleeps."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def policy(**changes: Any) -> RetryPolicy:
    return RetryPolicy(jitter=0.0, rng=random.Random(0), **changes)


def tags(transport: ScriptedTransport, retry: RetryPolicy, clock: Clock) -> Any:
    session = Session(REGISTRY, retry=retry)
    runner = Runner(transport, clock=clock.now, sleep=clock.sleep)
    return runner.run(ocireg.flows.tags_page(session, "app", ocireg.flows.tags_url(session, "app"), now=clock.now()))


def test_429_waits_as_long_as_retry_after_says() -> None:
    clock = Clock()
    transport = ScriptedTransport([(429, [("Retry-After", "3")], b""), ok_json(TAGS)])
    assert tags(transport, policy(), clock).items == ("a", "b")
    assert clock.sleeps == [3.0]
    assert len(transport.requests) == 2 and transport.all_closed


def test_retry_after_as_an_http_date() -> None:
    clock = Clock()
    when = email.utils.formatdate(clock.t + 7, usegmt=True)
    transport = ScriptedTransport([(503, [("Retry-After", when)], b""), ok_json(TAGS)])
    tags(transport, policy(), clock)
    assert clock.sleeps == [pytest.approx(7.0, abs=1.0)]


def test_5xx_back_off_exponentially() -> None:
    clock = Clock()
    transport = ScriptedTransport([(502, (), b""), (503, (), b""), (504, (), b""), ok_json(TAGS)])
    tags(transport, policy(backoff=0.5), clock)
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_jitter_only_shortens_the_wait() -> None:
    clock = Clock()
    transport = ScriptedTransport([(502, (), b""), (502, (), b""), ok_json(TAGS)])
    tags(transport, RetryPolicy(backoff=1.0, jitter=0.5, rng=random.Random(1)), clock)
    assert 0.5 <= clock.sleeps[0] <= 1.0 and 1.0 <= clock.sleeps[1] <= 2.0


def test_a_retry_after_past_the_cap_is_not_waited_for() -> None:
    clock = Clock()
    transport = ScriptedTransport([(429, [("Retry-After", "3600")], b'{"errors":[{"code":"TOOMANYREQUESTS"}]}')])
    with pytest.raises(ocireg.TooManyRequests) as caught:
        tags(transport, policy(max_retry_after=60), clock)
    assert caught.value.retry_after == 3600
    assert clock.sleeps == []


def test_attempts_and_deadline_bound_the_retries() -> None:
    clock = Clock()
    transport = ScriptedTransport([(503, (), b"")] * 3)
    with pytest.raises(ocireg.ResponseError) as caught:
        tags(transport, policy(attempts=3), clock)
    assert caught.value.status == 503 and len(transport.requests) == 3
    clock = Clock()
    transport = ScriptedTransport([(503, [("Retry-After", "50")], b"")] * 5)
    with pytest.raises(ocireg.ResponseError):
        tags(transport, policy(attempts=5, deadline=120), clock)
    assert sum(clock.sleeps) <= 120 and len(transport.requests) == 3


def test_connection_failures_before_an_answer_are_retried() -> None:
    clock = Clock()
    transport = ScriptedTransport([ConnectionRefusedError(111, "refused"), ocireg.ProtocolError("reset"), ok_json(TAGS)])
    assert tags(transport, policy(), clock).items == ("a", "b")
    assert len(clock.sleeps) == 2


def test_switched_off_nothing_is_retried() -> None:
    clock = Clock()
    transport = ScriptedTransport([(503, (), b"")])
    with pytest.raises(ocireg.ResponseError):
        tags(transport, RetryPolicy.off(), clock)
    assert clock.sleeps == [] and len(transport.requests) == 1


def test_posts_and_streamed_bodies_are_never_retried() -> None:
    retry = policy()
    assert not retry.may_retry(Request("POST", REGISTRY + "/v2/app/blobs/uploads/", body=b""))
    assert not retry.may_retry(Request("PUT", REGISTRY + "/x", body=iter([b"a"])))
    assert retry.may_retry(Request("PUT", REGISTRY + "/v2/app/manifests/t", body=b"{}"))
    clock = Clock()
    session = Session(REGISTRY, retry=retry)
    transport = ScriptedTransport([(503, (), b"")])
    flow = ocireg.flows.start_upload(session, "app", now=clock.now())
    with pytest.raises(ocireg.ResponseError):
        Runner(transport, clock=clock.now, sleep=clock.sleep).run(flow)
    assert len(transport.requests) == 1


@settings(max_examples=200, deadline=None)
@given(
    statuses=st.lists(st.sampled_from([200, 404, 429, 502, 503, 504]), min_size=1, max_size=8),
    hints=st.lists(st.one_of(st.none(), st.integers(0, 200)), min_size=8, max_size=8),
    attempts=st.integers(1, 6),
)
def test_any_answer_sequence_stays_within_the_policy(statuses: list[int], hints: list[int | None],
                                                     attempts: int) -> None:
    retry = policy(attempts=attempts, max_retry_after=60, deadline=100)
    answers = [(s, [("Retry-After", str(h))] if h is not None else [], b"")
               for s, h in zip(statuses, hints, strict=False)]
    answers += [(503, (), b"")] * 8
    clock = Clock()
    transport = ScriptedTransport(answers)
    with contextlib.suppress(ocireg.RegistryError):
        tags(transport, retry, clock)
    sent = len(transport.requests)
    assert 1 <= sent <= attempts
    assert all(s <= 60 for s in clock.sleeps) and sum(clock.sleeps) <= 100
    assert len(clock.sleeps) == sent - 1
    # Every answer before the last was a retryable status.
    assert all(status in retry.statuses for status, _, _ in answers[: sent - 1])


def test_rate_limit_headers_are_read() -> None:
    def answer(headers: list[tuple[str, str]]) -> ocireg.Response:
        return ocireg.Response(200, tuple(headers), Request("GET", REGISTRY + "/v2/"))

    hub = RateLimit.of(answer([("ratelimit-limit", "100;w=21600"), ("ratelimit-remaining", "76;w=21600")]))
    assert hub == RateLimit(100, 76, 21600, None)
    assert RateLimit.of(answer([("RateLimit-Reset", "30")])) == RateLimit(None, None, None, 30)
    assert RateLimit.of(answer([])) is None
    assert retry_after(answer([("Retry-After", "soon")]), 0) is None


def test_bad_policies_are_usage_errors() -> None:
    for bad in ({"attempts": 0}, {"backoff": -1}, {"deadline": float("inf")}, {"jitter": 2}, {"resumes": "3"}):
        with pytest.raises(ocireg.UsageError):
            RetryPolicy(**bad)


# --- on the wire: every transport, both drivers ----------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_429_then_an_answer_over_the_wire(driver: str) -> None:
    body = b'{"name":"app","tags":["a"]}'
    script = [READ, Send(response(429, headers=[("Retry-After", "0"), ("RateLimit-Remaining", "0")])),
              READ, Send(response(200, body=body, headers=[("Content-Type", "application/json"),
                                                           ("RateLimit-Remaining", "99")]))]
    with ScriptedServer([script]) as server:
        client = open_driven(driver, f"http://127.0.0.1:{server.port}")
        try:
            assert client.tags("app").tags == ("a",)
            assert client.rate_limit == RateLimit(None, 99)
        finally:
            client.close()
        assert len(server.requests) == 2


# --- resume, in front of the real registry ------------------------------------------------


def _blob(size: int) -> tuple[bytes, str]:
    data = random.Random(size).randbytes(size)
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def big_blob(registry_none: RegistryInstance) -> Iterator[tuple[str, bytes, str]]:
    data, digest = _blob(3 << 20)
    with ocireg.Registry(registry_none.url) as seeder:
        seeder.push_blob("resume/blob", data, digest)
    yield "resume/blob", data, digest


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_download_cut_midway_resumes_with_a_range(driver: str, registry_none: RegistryInstance,
                                                    big_blob: tuple[str, bytes, str], tmp_path: Path) -> None:
    repo, data, digest = big_blob
    window = LogWindow(registry_none)
    with CuttingProxy(("127.0.0.1", registry_none.port), cut_after=1 << 20) as proxy:
        client = open_driven(driver, proxy.url)
        try:
            written = client.blob(repo, digest, tmp_path / "blob")
        finally:
            client.close()
        assert proxy.cuts == 1
    assert Path(written).read_bytes() == data
    ranged = [e for e in window.entries() if e.status == 206 and digest in e.path]
    assert len(ranged) == 1  # the rest came as a 206, not the whole blob again
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_a_resume_the_server_answers_wrongly_starts_over() -> None:
    data, digest = _blob(200_000)
    cut = [READ, Send(response(200, body=data[:50_000], length=len(data)))]
    wrong_range = [READ, Send(response(206, body=data[10:], headers=[
        ("Content-Range", f"bytes 10-{len(data) - 1}/{len(data)}")]))]
    whole = [READ, Send(response(200, body=data))]
    with ScriptedServer([cut, wrong_range, whole]) as server:
        with ocireg.Registry(f"http://127.0.0.1:{server.port}", retry=policy()) as client:
            assert client.blob("app", digest) == data
        assert len(server.requests) == 3
        assert b"range: bytes=50000-" in server.requests[1].lower()


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_upload_cut_midway_goes_on_or_starts_over(driver: str, registry_none: RegistryInstance) -> None:
    data, digest = _blob(3 << 20)
    with CuttingProxy(("127.0.0.1", registry_none.port), cut_after=1 << 20, direction="up") as proxy:
        client = open_driven(driver, proxy.url)
        try:
            pushed = client.push_blob(f"resume/up/{driver}", data, digest, chunk_size=1 << 20, monolithic_limit=1)
        finally:
            client.close()
        assert proxy.cuts == 1
    assert pushed.how == "uploaded"
    with ocireg.Registry(registry_none.url) as check:
        assert check.blob(f"resume/up/{driver}", digest) == data
