"""How long a provider task waits before retrying a transient failure."""

from __future__ import annotations

import random

import pytest

from providers.base import ProviderError
from providers.calllog import call_with_retry, retry_delay


def test_retry_delays_double_up_to_five_minutes_within_their_upper_half():
    random.seed(7)
    for retries, ceiling in [(0, 2), (1, 4), (2, 8), (7, 256), (8, 300), (20, 300)]:
        delays = [retry_delay(retries) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), retries
        # Jittered: tasks throttled together come back at different moments.
        assert len({round(d, 3) for d in delays}) > 150


class FakeTask:
    class request:  # named as Celery names it
        retries = 3

    def __init__(self):
        self.retried_with = None

    def retry(self, *, exc, countdown):
        self.retried_with = (exc, countdown)
        return RuntimeError("retry")


def test_a_transient_failure_is_retried_after_the_jittered_delay():
    task = FakeTask()
    failure = ProviderError("MTurk throttled", transient=True)

    def call():
        raise failure

    with pytest.raises(RuntimeError, match="retry"):
        call_with_retry(task, call)

    exc, countdown = task.retried_with
    assert exc is failure
    assert 8 <= countdown <= 16


def test_a_permanent_failure_is_not_retried():
    task = FakeTask()

    def call():
        raise ProviderError("bad request", transient=False)

    with pytest.raises(ProviderError, match="bad request"):
        call_with_retry(task, call)

    assert task.retried_with is None
