"""`manage.py check_providers` on Prolific: the API token, tried with one
users/me call, and the base URL calls go to. No balance is read."""

from __future__ import annotations

from providers.checks import FAILED, OK, SKIPPED, UNKNOWN, Check
from providers.prolific import client as prolific

PROLIFIC_CREDENTIALS_FIX = (
    "create a token in Prolific (Settings → API tokens) and set PROLIFIC_API_KEY "
    "in the environment"
)


def unconfigured() -> str:
    """Why check_providers skips Prolific unless named, or "" when a token is set."""
    return "" if prolific._api_key() else "PROLIFIC_API_KEY is not set"


def check_prolific() -> list[Check]:
    """The credentials, endpoint and balance checks of Prolific."""

    def found(check: str, status: str, detail: str, fix: str = "") -> Check:
        return Check(check, status, detail, fix, "prolific")

    url = prolific.api_url()
    source = " (from PROLIFIC_API_URL)" if url != prolific.API_URL else ""
    endpoint = found("endpoint", OK, url + source)
    balance = found(
        "balance", SKIPPED, "not checked: crowdsite does not read a Prolific balance"
    )
    if not prolific._api_key():
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
