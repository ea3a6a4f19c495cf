"""What `manage.py check_providers` checks: each provider's credentials, endpoint
and balance, the Celery broker, and whether beat is running.

Reads only. Each check says, in words, what it found and, when it failed, how
to fix it. The only calls out are one balance (MTurk) or account (Prolific)
request per provider and one broker connection.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from django.conf import settings
from django.utils import timezone

from providers.base import ProviderError
from providers.models import OutboxMessage
from providers.mturk import MTurkProvider
from providers.mturk.client import LIVE_ENDPOINT, SANDBOX_ENDPOINT
from providers.prolific import client as prolific
from providers.registry import PROVIDER_CLASSES, get_provider_class
from providers.services import (
    BrokerUnavailable,
    broker_url,
    check_broker,
    tasks_run_in_process,
)

OK, FAILED, UNKNOWN, SKIPPED = "ok", "failed", "unknown", "skipped"
MTURK_TYPES = ("mturk", "mturk_sandbox")
# An empty account can post nothing.
DEFAULT_MIN_BALANCE = Decimal("0.01")
# AWS error codes that mean "these credentials are not accepted".
AUTH_ERROR_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
    }
)
AWS_CREDENTIALS_FIX = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, or "
    "AWS_PROFILE naming a profile in ~/.aws/credentials (never in the repository)"
)
PROLIFIC_CREDENTIALS_FIX = (
    "create a token in Prolific (Settings → API tokens) and set PROLIFIC_API_KEY "
    "in the environment"
)
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


def aws_credentials_method() -> str | None:
    """Where the AWS chain finds credentials ("env", "shared-credentials-file",
    ...), or None when it finds none. No call out (bar instance metadata)."""
    credentials = boto3.session.Session().get_credentials()
    return None if credentials is None else credentials.method


def default_providers() -> tuple[list[str], dict[str, str]]:
    """The providers with credentials configured, and why each other is skipped."""
    chosen: list[str] = []
    skipped: dict[str, str] = {}
    try:
        method = aws_credentials_method()
    except BotoCoreError as exc:
        method, why = None, f"the AWS credentials could not be loaded: {exc}"
    else:
        why = "no AWS credentials found in the AWS chain"
    for provider_type in MTURK_TYPES:
        if method is None:
            skipped[provider_type] = why
        else:
            chosen.append(provider_type)
    if prolific_api_key():
        chosen.append("prolific")
    else:
        skipped["prolific"] = "PROLIFIC_API_KEY is not set"
    skipped["mock"] = (
        "needs no credentials and has no endpoint or balance; --provider mock checks it"
    )
    return chosen, skipped


def prolific_api_key() -> str:
    return getattr(settings, "PROLIFIC_API_KEY", "") or ""


def check_provider(
    provider_type: str, *, min_balance: Decimal = DEFAULT_MIN_BALANCE
) -> list[Check]:
    """The credentials, endpoint and balance checks of one provider."""
    if provider_type not in PROVIDER_CLASSES:
        raise ValueError(
            f"unknown provider {provider_type!r}; valid providers are: "
            f"{', '.join(PROVIDER_CLASSES)}"
        )
    if provider_type in MTURK_TYPES:
        return _check_mturk(provider_type, min_balance=min_balance)
    if provider_type == "prolific":
        return _check_prolific()
    return [
        Check("credentials", OK, "none needed: the mock crowd is local", "", "mock"),
        Check("endpoint", OK, "none: workers arrive at this site by URL", "", "mock"),
        Check("balance", SKIPPED, "not checked: the mock keeps no balance", "", "mock"),
    ]


def _check_mturk(provider_type: str, *, min_balance: Decimal) -> list[Check]:
    def found(check: str, status: str, detail: str, fix: str = "") -> Check:
        return Check(check, status, detail, fix, provider_type)

    try:
        method = aws_credentials_method()
    except BotoCoreError as exc:
        return [
            found(
                "credentials",
                FAILED,
                f"the AWS credentials could not be loaded: {exc}",
                AWS_CREDENTIALS_FIX,
            ),
            *_not_checked(found, "the credentials could not be loaded"),
        ]
    if method is None:
        return [
            found(
                "credentials",
                FAILED,
                "no AWS credentials found in the AWS chain (environment, "
                "AWS_PROFILE, ~/.aws/credentials, instance role)",
                AWS_CREDENTIALS_FIX,
            ),
            *_not_checked(found, "there are no credentials"),
        ]
    provider_class = get_provider_class(provider_type)
    provider = provider_class()
    assert isinstance(provider, MTurkProvider)
    try:
        url = provider.client.meta.endpoint_url
    except (BotoCoreError, ValueError) as exc:
        return [
            found("credentials", OK, f"found ({method}), not yet tried"),
            found(
                "endpoint",
                FAILED,
                f"the MTurk client could not be built: {exc}",
                "fix AWS_ENDPOINT_URL_MTURK (or AWS_ENDPOINT_URL, or endpoint_url "
                "in the AWS config file): it must be an https:// URL",
            ),
            found("balance", SKIPPED, "not checked: no MTurk client"),
        ]
    source = _endpoint_source(url, provider_type)
    endpoint = f"{url} ({source})"
    wrong = _wrong_endpoint(url, provider_type)
    try:
        balance = provider.account_balance()
    except ProviderError as exc:
        cause = exc.__cause__
        code = (
            cause.response.get("Error", {}).get("Code", "")
            if isinstance(cause, ClientError)
            else ""
        )
        if isinstance(cause, BotoConnectionError | HTTPClientError):
            return [
                found("credentials", UNKNOWN, f"found ({method}), not tried"),
                found(
                    "endpoint",
                    FAILED,
                    f"{endpoint} could not be reached: {cause}",
                    "check the network, or fix the endpoint "
                    "(AWS_ENDPOINT_URL_MTURK, then AWS_ENDPOINT_URL, override "
                    "MTurk's own)",
                ),
                found("balance", SKIPPED, "not checked: MTurk could not be reached"),
            ]
        if code in AUTH_ERROR_CODES:
            return [
                found(
                    "credentials",
                    FAILED,
                    f"found ({method}) but refused by {url}: {exc}",
                    "check the access key (not expired, not deleted in IAM) "
                    "and that it belongs to the requester account; "
                    + AWS_CREDENTIALS_FIX,
                ),
                _endpoint_check(found, endpoint, wrong),
                found("balance", SKIPPED, "not checked: the credentials were refused"),
            ]
        return [
            found("credentials", UNKNOWN, f"found ({method}); MTurk answered: {exc}"),
            _endpoint_check(found, endpoint, wrong),
            found(
                "balance",
                FAILED,
                f"GetAccountBalance failed: {exc}",
                "if MTurk says the AWS account is not linked, link it to the "
                "requester account (requester site → Developer); otherwise "
                "retry later",
            ),
        ]
    checks = [
        found("credentials", OK, f"found ({method}) and accepted by MTurk"),
        _endpoint_check(found, endpoint, wrong),
    ]
    assert balance is not None  # MTurk always keeps one
    if balance < min_balance:
        checks.append(
            found(
                "balance",
                FAILED,
                f"${balance}, less than ${min_balance}",
                "add funds on the requester site (My Account → Prepaid HITs); "
                "a launch costing more than the balance is refused",
            )
        )
    else:
        checks.append(
            found(
                "balance",
                OK,
                f"${balance} (a launch costing more, fee included, is refused)",
            )
        )
    return checks


def _not_checked(found: Any, why: str) -> list[Check]:
    return [
        found("endpoint", SKIPPED, f"not checked: {why}"),
        found("balance", SKIPPED, f"not checked: {why}"),
    ]


def _endpoint_check(found: Any, endpoint: str, wrong: str) -> Check:
    if wrong:
        return found(
            "endpoint",
            FAILED,
            f"{endpoint}: {wrong}",
            "unset the variable that sets it (AWS_ENDPOINT_URL_MTURK or "
            "AWS_ENDPOINT_URL) or correct it; use mephisto/provider=mturk_sandbox "
            "for the sandbox and mturk for live",
        )
    return found("endpoint", OK, f"{endpoint}, answered")


def _endpoint_source(url: str, provider_type: str) -> str:
    """Which setting put `url` in the client, as botocore resolves it."""

    def same(value: str | None) -> bool:
        return bool(value) and url.rstrip("/") == (value or "").rstrip("/")

    if same(os.environ.get("AWS_ENDPOINT_URL_MTURK")):
        return "from AWS_ENDPOINT_URL_MTURK"
    if same(os.environ.get("AWS_ENDPOINT_URL")):
        return "from AWS_ENDPOINT_URL"
    if url == SANDBOX_ENDPOINT and provider_type == "mturk_sandbox":
        return "the sandbox's own endpoint; none configured"
    if url == LIVE_ENDPOINT and provider_type == "mturk":
        return "live MTurk's own endpoint; none configured"
    return "from the AWS config file's endpoint_url"


def _wrong_endpoint(url: str, provider_type: str) -> str:
    """Why `url` is wrong for `provider_type`, or ""."""
    if provider_type == "mturk" and url == SANDBOX_ENDPOINT:
        return (
            "live mturk would post to the sandbox, and record sandbox workers "
            "under their live names"
        )
    if provider_type == "mturk_sandbox" and url == LIVE_ENDPOINT:
        return "the sandbox would post HITs to live MTurk, with real money"
    return ""


def _check_prolific() -> list[Check]:
    def found(check: str, status: str, detail: str, fix: str = "") -> Check:
        return Check(check, status, detail, fix, "prolific")

    url = prolific.api_url()
    source = " (from PROLIFIC_API_URL)" if url != prolific.API_URL else ""
    endpoint = found("endpoint", OK, url + source)
    balance = found(
        "balance", SKIPPED, "not checked: crowdsite does not read a Prolific balance"
    )
    if not prolific_api_key():
        return [
            found(
                "credentials",
                FAILED,
                "PROLIFIC_API_KEY is not set",
                PROLIFIC_CREDENTIALS_FIX,
            ),
            endpoint,
            balance,
        ]
    try:
        # Prolific's "who am I": a read that any valid token may make.
        prolific._request("GET", "users/me/", operation="users/me")
    except prolific.ProlificError as exc:
        if exc.status_code in (401, 403):
            credentials = found(
                "credentials",
                FAILED,
                f"PROLIFIC_API_KEY was refused: {exc}",
                "the token may be deleted or mistyped; " + PROLIFIC_CREDENTIALS_FIX,
            )
        elif exc.status_code is None:
            credentials = found("credentials", UNKNOWN, "set, not tried")
            endpoint = found(
                "endpoint",
                FAILED,
                f"{url} could not be reached: {exc}",
                "check the network (and any proxy) between this host and Prolific",
            )
        else:
            credentials = found("credentials", UNKNOWN, f"set; Prolific said: {exc}")
        return [credentials, endpoint, balance]
    credentials = found("credentials", OK, "PROLIFIC_API_KEY set and accepted")
    return [credentials, endpoint, balance]


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
