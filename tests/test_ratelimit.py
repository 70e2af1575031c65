"""The request-rate limit: a token bucket on an injected clock, and the transport that waits for it."""

from __future__ import annotations

import itertools
import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocireg import InvalidArgument, Request, Response
from ocireg._ratelimit import RateLimitedTransport, TokenBucket

rates = st.floats(min_value=0.5, max_value=100)
bursts = st.floats(min_value=1, max_value=20)
gaps = st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=60)


def send_times(bucket: TokenBucket, arrivals: list[float]) -> list[float]:
    return [t + bucket.reserve(t) for t in arrivals]


def arrivals_from(gap_list: list[float]) -> list[float]:
    times, now = [], 0.0
    for gap in gap_list:
        now += gap
        times.append(now)
    return times


@given(rates, bursts, gaps)
def test_no_window_sees_more_than_burst_plus_rate_times_length(rate: float, burst: float, gap_list: list[float]) -> None:
    bucket = TokenBucket(rate, burst)
    sent = sorted(send_times(bucket, arrivals_from(gap_list)))
    for i in range(len(sent)):
        for j in range(i, len(sent)):
            assert j - i + 1 <= burst + rate * (sent[j] - sent[i]) + 1e-6


@given(rates, bursts, gaps)
def test_requests_leave_in_arrival_order_and_never_early(rate: float, burst: float, gap_list: list[float]) -> None:
    arrivals = arrivals_from(gap_list)
    sent = send_times(TokenBucket(rate, burst), arrivals)
    assert all(s >= a for s, a in zip(sent, arrivals, strict=True))
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(sent))


@given(rates, st.lists(st.floats(min_value=0, max_value=2), max_size=30))
def test_requests_under_the_rate_never_wait(rate: float, extra: list[float]) -> None:
    bucket = TokenBucket(rate, 1)
    arrivals = arrivals_from([1 / rate + e for e in extra])
    assert all(bucket.reserve(t) == 0 for t in arrivals)


def test_a_burst_goes_at_once_then_the_rate_holds() -> None:
    bucket = TokenBucket(2, burst=3)
    assert [bucket.reserve(10.0) for _ in range(5)] == [0, 0, 0, 0.5, 1.0]


def test_a_clock_going_backwards_gives_no_tokens() -> None:
    bucket = TokenBucket(1, burst=1)
    assert bucket.reserve(100.0) == 0
    assert bucket.reserve(50.0) == 1.0


def test_concurrent_reservations_are_each_counted() -> None:
    bucket = TokenBucket(10, burst=1)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            w = bucket.reserve(0.0)
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 200 requests at one instant: each waits one slot more than the one before.
    assert sorted(waits) == pytest.approx([i / 10 for i in range(200)])


@pytest.mark.parametrize(("rate", "burst"), [(0, None), (-1, None), (math.inf, None), (math.nan, None),
                                             (True, None), (1, 0.5), (1, math.inf)])
def test_bad_settings(rate: float, burst: float | None) -> None:
    with pytest.raises(InvalidArgument):
        TokenBucket(rate, burst)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[float, str]] = []
        self.closed = False
        self.now = 0.0

    def send(self, request: Request, /) -> Response:
        self.sent.append((self.now, request.url))
        return Response(200, (), request)

    def close(self) -> None:
        self.closed = True


def test_the_transport_sleeps_what_the_bucket_says_on_the_injected_clock() -> None:
    inner = Recorder()

    def sleep(seconds: float) -> None:
        inner.now += seconds

    transport = RateLimitedTransport(inner, TokenBucket(4, burst=2), clock=lambda: inner.now, sleep=sleep)
    for i in range(6):
        transport.send(Request("GET", f"https://r.example/v2/{i}", ()))
    assert [t for t, _ in inner.sent] == pytest.approx([0, 0, 0.25, 0.5, 0.75, 1.0])
    transport.close()
    assert inner.closed
