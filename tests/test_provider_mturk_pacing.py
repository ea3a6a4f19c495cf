"""MTurk requests are paced under MTurk's rate: a token bucket per process."""

from __future__ import annotations

import pytest

from providers.http import RequestPacer
from providers.mturk import MTurkSandboxProvider
from providers.mturk import client as mturk_module
from tests.mturk_fake import mturk_fixture as mturk_fixture


class Clock:
    """A clock that moves only when the pacer sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_burst_goes_at_once_and_the_rest_at_the_rate():
    clock = Clock()
    pacer = RequestPacer(clock=clock, sleep=clock.sleep)

    pauses = [pacer.wait(5) for _ in range(14)]

    # A burst of twice the rate passes unpaused; then one request per 1/5 s.
    assert pauses[:10] == [0.0] * 10
    assert pauses[10:] == pytest.approx([0.2] * 4)
    assert clock.now == pytest.approx(100.8)


def test_time_without_requests_refills_the_burst_but_no_further():
    clock = Clock()
    pacer = RequestPacer(clock=clock, sleep=clock.sleep)
    for _ in range(4):
        pacer.wait(2)

    clock.now += 3600

    assert [pacer.wait(2) for _ in range(4)] == [0.0] * 4
    assert pacer.wait(2) == pytest.approx(0.5)


def test_a_rate_of_zero_sends_without_pacing():
    clock = Clock()
    pacer = RequestPacer(clock=clock, sleep=clock.sleep)

    assert [pacer.wait(0) for _ in range(100)] == [0.0] * 100
    assert clock.sleeps == []


def test_every_mturk_request_retries_included_waits_for_the_pacer(
    mturk, settings, monkeypatch
):
    settings.MTURK_MAX_REQUESTS_PER_SECOND = 3.0
    rates: list[float] = []
    monkeypatch.setattr(mturk_module.PACER, "wait", rates.append)
    # Throttled twice: botocore's own retries are requests too.
    mturk.fail_next(2, "throttle")

    MTurkSandboxProvider().account_balance()

    assert mturk.count("GetAccountBalance") == 3
    assert rates == [3.0, 3.0, 3.0]
