"""What `manage.py check_providers` checks: each provider's credentials, endpoint
and balance, the Celery broker, and whether beat is running.

Reads only. Each check says, in words, what it found and, when it failed, how
to fix it. The checks of a provider are its own (`Provider.health_checks`, in
its package's checks.py), found through the registry; the only calls out are
one balance (MTurk) or account (Prolific) request per provider and one broker
connection.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from providers.models import OutboxMessage
from providers.outbox import (
    BrokerUnavailable,
    broker_url,
    check_broker,
    tasks_run_in_process,
)
from providers.registry import PROVIDER_CLASSES, get_provider_class

OK, FAILED, UNKNOWN, SKIPPED = "ok", "failed", "unknown", "skipped"
# An empty account can post nothing.
DEFAULT_MIN_BALANCE = Decimal("0.01")
BEAT_FIX = (
    "start exactly one `celery -A crowdsite beat` and at least one "
    "`celery -A crowdsite worker` with the same CELERY_BROKER_URL"
)


@dataclass(frozen=True)
class Check:
    """One finding: `status` is ok, failed, unknown (can't tell) or skipped."""

    check: str
    status: str
    detail: str
    fix: str = ""
    provider: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_providers() -> tuple[list[str], dict[str, str]]:
    """The providers with credentials configured, and why each other is skipped."""
    chosen: list[str] = []
    skipped: dict[str, str] = {}
    for provider_type in PROVIDER_CLASSES:
        why = get_provider_class(provider_type).unconfigured()
        if why:
            skipped[provider_type] = why
        else:
            chosen.append(provider_type)
    return chosen, skipped


def credentials_fix() -> str:
    """How to configure credentials for any provider, the local ones last."""
    classes = sorted(
        map(get_provider_class, PROVIDER_CLASSES),
        key=lambda provider_class: not provider_class.sends_real_workers,
    )
    return "; ".join(dict.fromkeys(c.credentials_hint() for c in classes))


def check_provider(
    provider_type: str, *, min_balance: Decimal = DEFAULT_MIN_BALANCE
) -> list[Check]:
    """The credentials, endpoint and balance checks of one provider."""
    if provider_type not in PROVIDER_CLASSES:
        raise ValueError(
            f"unknown provider {provider_type!r}; valid providers are: "
            f"{', '.join(PROVIDER_CLASSES)}"
        )
    return get_provider_class(provider_type).health_checks(min_balance=min_balance)


def check_celery() -> list[Check]:
    """The broker reachable, and beat running as far as can be told."""
    if tasks_run_in_process():
        return [
            Check(
                "broker",
                OK,
                "none configured: tasks run in-process, inside each request "
                "(fine on a laptop; production sets CELERY_BROKER_URL)",
            ),
            Check(
                "beat",
                SKIPPED,
                "not used without a broker: the periodic sweeps (timeouts, "
                "top-ups, ending runs, auto-approval) only run under "
                "`celery -A crowdsite beat` with a broker",
            ),
        ]
    try:
        check_broker()
    except BrokerUnavailable as exc:
        return [
            Check("broker", FAILED, str(exc), "start the broker or fix the URL"),
            Check("beat", UNKNOWN, "cannot tell while the broker is down"),
        ]
    return [Check("broker", OK, f"{broker_url()} answered"), _check_beat()]


def send_outbox_interval() -> int:
    """Seconds between beat's send-outbox runs, as CELERY_BEAT_SCHEDULE says."""
    entry: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE.get("send-outbox", {})
    return int(float(entry.get("schedule", 15.0)))


def outbox_wait_limit() -> timedelta:
    """How long an unsent outbox row may wait while beat runs send-outbox."""
    return timedelta(seconds=max(60, 4 * send_outbox_interval()))


def _check_beat() -> Check:
    # crowdsite records no heartbeat of beat. The one trace it leaves is the
    # outbox: send-outbox (every 15 s) publishes rows the commit hook could not,
    # so with the broker up a row left unsent for long says beat, or the worker
    # that runs its task, is not running. No such row says nothing either way.
    limit = outbox_wait_limit()
    late = OutboxMessage.objects.filter(
        sent_at__isnull=True, created_at__lt=timezone.now() - limit
    )
    oldest = late.order_by("created_at").first()
    if oldest is None:
        return Check(
            "beat",
            UNKNOWN,
            "cannot tell: crowdsite records no beat heartbeat, and no task is "
            f"waiting on it (no outbox row unsent for more than "
            f"{int(limit.total_seconds())} s)",
        )
    waited = int((timezone.now() - oldest.created_at).total_seconds())
    error = f"; last publish error: {oldest.last_error}" if oldest.last_error else ""
    return Check(
        "beat",
        FAILED,
        f"{late.count()} queued task(s) unsent, the oldest ({oldest.task_name}) for "
        f"{waited} s, though the broker answers and beat's send-outbox retries "
        f"every {send_outbox_interval()} s: beat or its worker is "
        f"not running{error}",
        BEAT_FIX,
    )
