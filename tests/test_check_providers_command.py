"""`manage.py check_providers`: credentials, endpoints, balances, the broker and
beat, each said in words with the fix, against the MTurk fake, `responses` for
Prolific and a dead port for the broker."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import responses
from botocore.retries import standard
from botocore.stub import Stubber
from django.core.management import CommandError, call_command
from django.utils import timezone

from providers import checks
from providers.models import OutboxMessage
from providers.mturk import MTurkProvider
from providers.mturk.client import SANDBOX_ENDPOINT
from providers.prolific import client as prolific
from tests.mturk_fake import MTurkFake
from tests.mturk_fake import mturk_fixture as mturk_fixture
from tests.test_celery_faults import DEAD_BROKER, broker

pytestmark = pytest.mark.django_db

PROLIFIC_ME = prolific.API_URL + "users/me/"


def run(*args: str) -> tuple[str, str | None]:
    """The command's stdout, and its error when it exits 1."""
    out = StringIO()
    try:
        call_command("check_providers", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


def by_name(out: str) -> dict[tuple[str, str], dict]:
    report = json.loads(out)
    return {(c["provider"], c["check"]): c for c in report["checks"]}


@pytest.fixture
def no_aws(mturk: MTurkFake, monkeypatch) -> MTurkFake:
    """The MTurk fake's empty AWS chain, without its credentials."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    return mturk


@pytest.fixture
def prolific_token(settings):
    settings.PROLIFIC_API_KEY = "test-token"
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def broker_up(monkeypatch):
    """A broker that answers (tasks no longer in-process)."""
    monkeypatch.setattr(checks, "tasks_run_in_process", lambda: False)
    monkeypatch.setattr(checks, "check_broker", lambda: None)
    monkeypatch.setattr(checks, "broker_url", lambda: "redis://127.0.0.1:6379/0")


def test_everything_configured_and_answering_passes(mturk, prolific_token):
    prolific_token.get(PROLIFIC_ME, json={"id": "me"})

    out, error = run()

    assert error is None
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "mturk_sandbox" in lines
    assert "ok credentials found (env) and accepted by MTurk" in lines
    assert (
        "ok endpoint https://mturk-fake.invalid (from AWS_ENDPOINT_URL_MTURK), "
        "answered" in lines
    )
    assert (
        "ok balance $10000.00 (a launch costing more, fee included, is refused)"
        in lines
    )
    assert "ok credentials PROLIFIC_API_KEY set and accepted" in lines
    assert f"ok endpoint {prolific.API_URL}" in lines
    assert "- balance not checked: crowdsite does not read a Prolific balance" in lines
    assert (
        "skipped mock: needs no credentials and has no endpoint or balance; "
        "--provider mock checks it" in lines
    )
    assert lines[-1] == "No check failed."
    assert mturk.count("GetAccountBalance") == 2  # live and sandbox


def test_prolific_api_url_is_the_endpoint_checked_and_shown(prolific_token, settings):
    settings.PROLIFIC_API_URL = "http://prolific-stand-in.test/api/v1/"
    prolific_token.get("http://prolific-stand-in.test/api/v1/users/me/", json={})

    out, error = run("--provider", "prolific", "--json")

    assert error is None
    endpoint = by_name(out)["prolific", "endpoint"]
    assert endpoint["status"] == "ok"
    assert endpoint["detail"] == (
        "http://prolific-stand-in.test/api/v1/ (from PROLIFIC_API_URL)"
    )


def test_json_lists_every_check_and_the_skipped_providers(mturk):
    out, error = run("--json")

    report = json.loads(out)
    assert error is None
    assert report["ok"] is True
    assert report["skipped"] == {
        "prolific": "PROLIFIC_API_KEY is not set",
        "mock": "needs no credentials and has no endpoint or balance; "
        "--provider mock checks it",
    }
    assert {(c["provider"], c["check"], c["status"]) for c in report["checks"]} == {
        ("mturk", "credentials", "ok"),
        ("mturk", "endpoint", "ok"),
        ("mturk", "balance", "ok"),
        ("mturk_sandbox", "credentials", "ok"),
        ("mturk_sandbox", "endpoint", "ok"),
        ("mturk_sandbox", "balance", "ok"),
        ("", "broker", "ok"),
        ("", "beat", "skipped"),
    }


def test_with_no_credentials_every_provider_is_skipped_and_it_fails(no_aws):
    out, error = run()

    assert error == "1 check(s) failed: credentials"
    assert "FAILED credentials  no provider has credentials configured" in out
    assert "skipped mturk: no AWS credentials found in the AWS chain" in out
    assert "skipped prolific: PROLIFIC_API_KEY is not set" in out
    assert not no_aws.requests


def test_mturk_without_credentials_says_how_to_set_them(no_aws):
    out, error = run("--provider", "mturk", "--json")

    found = by_name(out)
    assert error == "1 check(s) failed: mturk credentials"
    assert found["mturk", "credentials"]["status"] == "failed"
    assert (
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        in (found["mturk", "credentials"]["fix"])
    )
    assert found["mturk", "endpoint"]["status"] == "skipped"
    assert found["mturk", "balance"]["detail"] == (
        "not checked: there are no credentials"
    )


def test_prolific_without_a_token_says_where_to_make_one(settings):
    settings.PROLIFIC_API_KEY = ""

    out, error = run("--provider", "prolific", "--json")

    credentials = by_name(out)["prolific", "credentials"]
    assert error == "1 check(s) failed: prolific credentials"
    assert credentials["detail"] == "PROLIFIC_API_KEY is not set"
    assert "Settings → API tokens" in credentials["fix"]


def test_a_refused_prolific_token_fails_the_credentials(prolific_token):
    prolific_token.get(PROLIFIC_ME, status=401, json={"detail": "Invalid token."})

    out, error = run("--provider", "prolific", "--json")

    credentials = by_name(out)["prolific", "credentials"]
    assert error == "1 check(s) failed: prolific credentials"
    assert credentials["detail"].startswith("PROLIFIC_API_KEY was refused")
    assert "HTTP 401" in credentials["detail"]


def test_live_mturk_pointed_at_the_sandbox_fails_the_endpoint(mturk, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_MTURK", SANDBOX_ENDPOINT)

    out, error = run("--provider", "mturk", "--json")

    endpoint = by_name(out)["mturk", "endpoint"]
    assert error == "1 check(s) failed: mturk endpoint"
    assert endpoint["detail"] == (
        f"{SANDBOX_ENDPOINT} (from AWS_ENDPOINT_URL_MTURK): live mturk would post "
        "to the sandbox, and record sandbox workers under their live names"
    )
    assert "unset the variable" in endpoint["fix"]


def test_the_sandbox_says_which_endpoint_its_calls_go_to(mturk, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL_MTURK")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://gateway.example.invalid")

    out, _ = run("--provider", "mturk_sandbox", "--json")

    assert by_name(out)["mturk_sandbox", "endpoint"]["detail"] == (
        "https://gateway.example.invalid (from AWS_ENDPOINT_URL), answered"
    )


@pytest.fixture
def fake_aws(monkeypatch, tmp_path):
    """Fake credentials, no fake MTurk, and an endpoint where nothing listens."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-creds"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_MTURK", "http://127.0.0.1:1")
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda *a: 0)


def test_credentials_mturk_refuses_fail_with_what_to_check(fake_aws, monkeypatch):
    build = MTurkProvider._build_client

    def refusing(self: MTurkProvider, **kwargs: Any) -> Any:
        client = build(self, **kwargs)
        stubber = Stubber(client)
        stubber.add_client_error(
            "get_account_balance",
            service_error_code="UnrecognizedClientException",
            service_message="The security token included in the request is invalid.",
            http_status_code=400,
        )
        stubber.activate()
        return client

    monkeypatch.setattr(MTurkProvider, "_build_client", refusing)

    out, error = run("--provider", "mturk", "--json")

    found = by_name(out)
    assert error == "1 check(s) failed: mturk credentials"
    assert found["mturk", "credentials"]["detail"] == (
        "found (env) but refused by http://127.0.0.1:1: MTurk get_account_balance "
        "failed: UnrecognizedClientException: The security token included in the "
        "request is invalid."
    )
    assert "not expired" in found["mturk", "credentials"]["fix"]
    assert found["mturk", "balance"]["status"] == "skipped"


def test_an_unreachable_mturk_endpoint_fails_and_names_the_url(fake_aws):
    out, error = run("--provider", "mturk_sandbox", "--json")

    found = by_name(out)
    assert error == "1 check(s) failed: mturk_sandbox endpoint"
    assert found["mturk_sandbox", "endpoint"]["detail"].startswith(
        "http://127.0.0.1:1 (from AWS_ENDPOINT_URL_MTURK) could not be reached: "
    )
    assert found["mturk_sandbox", "credentials"]["status"] == "unknown"
    assert found["mturk_sandbox", "balance"]["status"] == "skipped"


def test_an_empty_mturk_account_fails_the_balance(mturk):
    mturk.balance = 0

    out, error = run("--provider", "mturk")

    text = " ".join(out.split())
    assert error == "1 check(s) failed: mturk balance"
    assert "FAILED balance $0.00, less than $0.01 fix: add funds on the" in text


def test_a_balance_below_min_balance_fails_with_both_figures(mturk):
    mturk.balance = 120

    out, error = run("--provider", "mturk_sandbox", "--min-balance", "250", "--json")

    balance = by_name(out)["mturk_sandbox", "balance"]
    assert error == "1 check(s) failed: mturk_sandbox balance"
    assert balance["detail"] == "$120.00, less than $250"


@pytest.mark.parametrize(
    "amount, message",
    [
        ("-1", "--min-balance: '-1' is not an amount of dollars of 0 or more"),
        ("lots", "--min-balance 'lots' is not a number in plain decimal digits"),
        ("nan", "--min-balance must be a finite number (got nan)"),
        ("1_000", "--min-balance '1_000' is not a number in plain decimal digits"),
        ("２５０", "'２' (FULLWIDTH DIGIT TWO) is not one of the digits 0-9"),
        ("1e3", "it has an exponent ('e'); write 1000 instead"),
        ("9" * 30, "is too large: at most 12 digits before the '.'"),
    ],
)
def test_a_bad_min_balance_is_refused_saying_why(mturk, amount, message):
    with pytest.raises(CommandError) as refused:
        call_command("check_providers", "--min-balance", amount, stdout=StringIO())

    assert message in str(refused.value)
    assert mturk.requests == []  # refused before any check calls out


def test_min_balance_in_plain_digits_is_the_limit_checked(mturk):
    mturk.balance = 120

    out, error = run("--provider", "mturk_sandbox", "--min-balance", "120.01", "--json")

    assert by_name(out)["mturk_sandbox", "balance"]["detail"] == (
        "$120.00, less than $120.01"
    )


def test_a_broker_that_is_down_fails_and_beat_cannot_be_told(eager_celery):
    with broker(eager_celery, DEAD_BROKER):
        out, error = run("--provider", "mock", "--json")

    found = by_name(out)
    assert error == "1 check(s) failed: broker"
    assert found["", "broker"]["detail"].startswith(
        "The Celery broker at redis://:**@127.0.0.1:1/0 is unreachable"
    )
    assert "s3cret" not in out
    assert found["", "beat"]["status"] == "unknown"
    assert found["", "beat"]["detail"] == "cannot tell while the broker is down"


def test_with_the_broker_up_and_nothing_waiting_beat_cannot_be_told(broker_up):
    out, error = run("--provider", "mock", "--json")

    found = by_name(out)
    assert error is None
    assert found["", "broker"]["detail"] == "redis://127.0.0.1:6379/0 answered"
    assert found["", "beat"]["status"] == "unknown"
    assert found["", "beat"]["detail"].startswith(
        "cannot tell: crowdsite records no beat heartbeat"
    )


def test_tasks_left_in_the_outbox_with_the_broker_up_fail_beat(broker_up):
    message = OutboxMessage.objects.create(
        task_name="tasks_app.tasks.launch_units", kwargs={"run_id": 1}
    )
    OutboxMessage.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    # A row queued just now is not late: send-outbox may not have run yet.
    OutboxMessage.objects.create(task_name="tasks_app.tasks.launch_units")

    out, error = run("--provider", "mock", "--json")

    beat = by_name(out)["", "beat"]
    assert error == "1 check(s) failed: beat"
    assert beat["detail"].startswith(
        "1 queued task(s) unsent, the oldest (tasks_app.tasks.launch_units) for 30"
    )
    assert "beat or its worker is not running" in beat["detail"]
    assert "celery -A crowdsite beat" in beat["fix"]
