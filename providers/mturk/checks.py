"""`manage.py check_providers` on MTurk: the AWS credentials, the endpoint the
client posts to (the sandbox never at live MTurk, nor live at the sandbox),
and the requester account's balance, read with one GetAccountBalance call."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from providers.base import ProviderError
from providers.checks import FAILED, OK, SKIPPED, UNKNOWN, Check
from providers.mturk.client import LIVE_ENDPOINT, SANDBOX_ENDPOINT

if TYPE_CHECKING:
    from providers.mturk.client import MTurkBase

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


def aws_credentials_method() -> str | None:
    """Where the AWS chain finds credentials ("env", "shared-credentials-file",
    ...), or None when it finds none. No call out (bar instance metadata)."""
    credentials = boto3.session.Session().get_credentials()
    return None if credentials is None else credentials.method


def unconfigured() -> str:
    """Why check_providers skips MTurk unless named, or "" when the AWS chain
    finds credentials."""
    try:
        method = aws_credentials_method()
    except BotoCoreError as exc:
        return f"the AWS credentials could not be loaded: {exc}"
    return "no AWS credentials found in the AWS chain" if method is None else ""


def check_mturk(
    provider_class: type[MTurkBase], *, min_balance: Decimal
) -> list[Check]:
    """The credentials, endpoint and balance checks of `provider_class`."""
    provider_type = provider_class.provider_type

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
    provider = provider_class()
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
