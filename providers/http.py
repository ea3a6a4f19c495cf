"""The HTTP layer the providers share: one session, timeouts, errors, pacing.

A provider that talks plain HTTP (Prolific) calls `request`: connections are
pooled in one `requests` session per process, every call has a timeout, and
what went wrong becomes a ProviderError that says whether retrying may help
(`transient`) and whether the call may have happened anyway (`ambiguous`).
MTurk talks through boto3, which has its own session and errors; it shares
the pacing (`RequestPacer`) and translates botocore's errors itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from providers.base import ProviderError

# (connect, read) seconds: a hung call must fail, not hold a Celery worker.
TIMEOUT = (10, 30)

_session: requests.Session | None = None
_session_lock = threading.Lock()


class ProviderHTTPError(ProviderError):
    """A provider's HTTP call failed; `status_code` is the HTTP status, if any
    came back."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        status_code: int | None = None,
        ambiguous: bool | None = None,
    ) -> None:
        super().__init__(message, transient=transient, ambiguous=ambiguous)
        self.status_code = status_code


def session() -> requests.Session:
    """The shared HTTP session (pooled connections), built on first use."""
    global _session
    with _session_lock:
        if _session is None:
            _session = requests.Session()
        return _session


def close_session() -> None:
    """Close the shared session; the next call builds a new one."""
    global _session
    with _session_lock:
        if _session is not None:
            _session.close()
            _session = None


def response_text(response: requests.Response) -> str:
    """What a failed response says, when the provider has no words of its own."""
    return response.text[:500] or response.reason


def request(
    method: str,
    url: str,
    *,
    service: str,
    operation: str,
    headers: dict[str, str],
    json: Any = None,
    repeatable: bool = True,
    error: type[ProviderHTTPError] = ProviderHTTPError,
    error_message: Callable[[requests.Response], str] = response_text,
    pace: Callable[[], object] | None = None,
) -> Any:
    """Call `service` at `url`, return the decoded JSON body (None if empty).

    429 and 5xx are transient. A call that is not `repeatable` (a payment the
    provider documents as not idempotent) is never left to be retried blind:
    an outcome that can't be known (no answer after sending, a 5xx, a body
    that can't be read) is raised ambiguous and not transient, so it is
    reconciled instead; a 429 (not done) stays transient. Failures are raised
    as `error`, worded `<service> <operation> failed: ...`, the provider's
    own words for a failed response read by `error_message`. `pace`, if given,
    is called before the request is sent.
    """
    unknown = {} if repeatable else {"transient": False, "ambiguous": True}
    if pace is not None:
        pace()
    try:
        response = session().request(
            method, url, json=json, headers=headers, timeout=TIMEOUT
        )
    except requests.ConnectTimeout as exc:
        # No connection was made, so nothing was sent.
        raise error(
            f"{service} {operation} failed: could not reach {service}: {exc}",
            transient=True,
            ambiguous=False,
        ) from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise error(
            f"{service} {operation} failed: could not reach {service}, or its "
            f"answer was lost: {exc}",
            **({"transient": True} | unknown),
        ) from exc
    except requests.RequestException as exc:
        raise error(f"{service} {operation} failed: {exc}", transient=False) from exc
    status = response.status_code
    if status >= 400:
        outcome: dict[str, Any] = {"transient": status == 429 or status >= 500}
        if not repeatable:
            # A 429 is "not done, slow down"; a 5xx may have been done.
            outcome = unknown if status >= 500 else outcome | {"ambiguous": False}
        raise error(
            f"{service} {operation} failed: HTTP {status}: {error_message(response)}",
            status_code=status,
            **outcome,
        )
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        # A success we can't read may still have happened: retry and look again.
        raise error(
            f"{service} {operation} answered HTTP {status} with a body that is "
            "not JSON",
            status_code=status,
            **({"transient": True} | unknown),
        ) from exc


class RequestPacer:
    """A token bucket: at most `rate` requests a second, `burst` at once.

    A provider that throttles per account keeps one for the process, so
    Celery's threads and retries don't outrun it together.
    """

    def __init__(
        self,
        *,
        clock: Any = time.monotonic,
        sleep: Any = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens: float | None = None
        self._last = 0.0

    def wait(self, rate: float) -> float:
        """Block until one more request may go at `rate` a second; the pause."""
        if rate <= 0:
            return 0.0
        burst = max(1.0, 2 * rate)
        with self._lock:
            now = self._clock()
            if self._tokens is None:
                self._tokens = burst
            else:
                self._tokens = min(burst, self._tokens + (now - self._last) * rate)
            self._last = now
            self._tokens -= 1
            pause = 0.0 if self._tokens >= 0 else -self._tokens / rate
        # Sleep outside the lock: the next caller's share is already counted.
        if pause:
            self._sleep(pause)
        return pause
