"""Beat's schedule without a broker: run by the web process as it serves requests.

With no `CELERY_BROKER_URL` (the README's laptop set-up) tasks run in-process and
there is no Celery beat, so nothing would time out agents, top runs up, end stale
runs, complete runs or auto-approve. `InProcessBeatMiddleware` runs each entry of
`CELERY_BEAT_SCHEDULE` after a response once its interval has passed in this
process, so the laptop set-up does what beat does while anyone (a worker, the
admin) is using the site. Every task on the schedule is safe to run twice or
concurrently, so several processes each keeping their own clock is harmless;
the lock below only keeps one thread of a process from repeating another's
work at the same moment. With a broker it does nothing: beat runs the schedule.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from providers.outbox import registered_task, tasks_run_in_process

logger = logging.getLogger(__name__)

_last_run: dict[str, float] = {}
_lock = threading.Lock()


def forget_runs() -> None:
    """Make every entry due again (tests)."""
    _last_run.clear()


def run_due(*, now: float | None = None) -> list[str]:
    """Run the schedule's tasks whose interval has passed in this process, in
    process; the names of those run. Nothing with a broker, or when
    `IN_PROCESS_BEAT` is off."""
    if not settings.IN_PROCESS_BEAT or not tasks_run_in_process():
        return []
    if not _lock.acquire(blocking=False):
        return []  # another thread of this process is running the schedule
    try:
        now = time.monotonic() if now is None else now
        ran = []
        schedule: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
        for entry in schedule.values():
            name = str(entry["task"])
            interval = float(entry["schedule"])
            if now - _last_run.get(name, float("-inf")) < interval:
                continue
            _last_run[name] = now
            try:
                registered_task(name).apply(throw=True)
            except Exception:
                # One sweep failing must not fail the request or the others.
                logger.exception("in-process beat: %s failed", name)
            ran.append(name)
        return ran
    finally:
        _lock.release()


class InProcessBeatMiddleware:
    """After each response, run what beat would have run by now (no broker)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        run_due()
        return response
