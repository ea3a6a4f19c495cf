"""MTurk client contract tests: which failures are transient, the endpoints and
credentials the clients use, worker names and the fee. botocore's Stubber stands
in for AWS."""

from __future__ import annotations

from decimal import Decimal

import pytest
from botocore.stub import Stubber

from providers.base import ProviderError
from providers.mturk import MTurkProvider, MTurkSandboxProvider
from providers.mturk.client import SANDBOX_ENDPOINT
from tasks_app.run_config import ConfigError
from tasks_app.selectors import run_spec, task_url
from tests.mturk_stubber_calls import expect_hit_type, make_run, unit_ids
from tests.mturk_stubber_calls import fake_aws_fixture as fake_aws_fixture
from tests.mturk_stubber_calls import public_url_fixture as public_url_fixture

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("code", "message", "status"),
    [
        ("ThrottlingException", "Rate exceeded", 400),
        ("ServiceUnavailable", "Service is unavailable", 503),
        ("ServiceFault", "Amazon Mechanical Turk is temporarily unable", 500),
        ("SomethingNew", "Internal trouble", 502),
    ],
)
def test_throttling_and_server_errors_are_transient(code, message, status):
    run = make_run(units=1)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        stub.add_client_error(
            "create_hit_type",
            service_error_code=code,
            service_message=message,
            http_status_code=status,
        )
        with pytest.raises(ProviderError) as raised:
            provider.launch_units(
                run=run_spec(run), unit_ids=unit_ids(run), task_url=task_url(run)
            )

    assert raised.value.transient
    assert "create_hit_type" in str(raised.value)


def test_a_rejected_request_is_not_transient_and_says_why():
    run = make_run(units=1)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_hit_type(stub)
        stub.add_client_error(
            "create_hit_with_hit_type",
            service_error_code="RequestError",
            service_message="Value 'ftp://x' for ExternalURL is invalid.",
            http_status_code=400,
        )
        with pytest.raises(ProviderError) as raised:
            provider.launch_units(
                run=run_spec(run), unit_ids=unit_ids(run), task_url=task_url(run)
            )

    assert not raised.value.transient
    assert "create_hit_with_hit_type" in str(raised.value)
    assert "ExternalURL is invalid" in str(raised.value)


def test_an_unreachable_endpoint_is_transient(monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    run = make_run(units=1)
    provider = MTurkSandboxProvider()

    def unreachable(**params):
        raise EndpointConnectionError(endpoint_url=SANDBOX_ENDPOINT)

    monkeypatch.setattr(provider.client, "create_hit_type", unreachable)
    with pytest.raises(ProviderError) as raised:
        provider.launch_units(
            run=run_spec(run), unit_ids=unit_ids(run), task_url=task_url(run)
        )

    assert raised.value.transient


def test_sandbox_and_live_talk_to_their_own_endpoints():
    sandbox = MTurkSandboxProvider().client
    live = MTurkProvider().client

    assert sandbox.meta.endpoint_url == SANDBOX_ENDPOINT
    assert live.meta.endpoint_url == "https://mturk-requester.us-east-1.amazonaws.com"
    assert sandbox.meta.region_name == live.meta.region_name == "us-east-1"


@pytest.mark.parametrize("provider_class", [MTurkProvider, MTurkSandboxProvider])
def test_the_mturk_endpoint_env_var_overrides_the_endpoint(provider_class, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_MTURK", "http://127.0.0.1:8765")

    assert provider_class().client.meta.endpoint_url == "http://127.0.0.1:8765"


@pytest.mark.parametrize("provider_class", [MTurkProvider, MTurkSandboxProvider])
def test_the_global_endpoint_env_var_overrides_the_endpoint_too(
    provider_class, monkeypatch
):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8766")

    assert provider_class().client.meta.endpoint_url == "http://127.0.0.1:8766"


@pytest.mark.parametrize("provider_class", [MTurkProvider, MTurkSandboxProvider])
def test_the_mturk_endpoint_env_var_wins_over_the_global_one(
    provider_class, monkeypatch
):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8766")
    monkeypatch.setenv("AWS_ENDPOINT_URL_MTURK", "http://127.0.0.1:8765")

    assert provider_class().client.meta.endpoint_url == "http://127.0.0.1:8765"


def test_sandbox_worker_names_carry_a_suffix_and_live_ones_do_not():
    assert MTurkSandboxProvider.worker_name("A1B2C3") == "A1B2C3_sandbox"
    assert MTurkProvider.worker_name("A1B2C3") == "A1B2C3"


def test_mturk_fee_is_twenty_percent():
    assert MTurkProvider.fee_rate == MTurkSandboxProvider.fee_rate == Decimal("0.20")


def provider_args(provider_type: str) -> dict[str, str]:
    return {"_provider_type": provider_type}


@pytest.mark.parametrize("provider_class", [MTurkProvider, MTurkSandboxProvider])
def test_launching_without_aws_credentials_is_a_config_error(
    provider_class, monkeypatch
):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(ConfigError) as raised:
        provider_class.check_can_launch(
            provider_args=provider_args(provider_class.provider_type)
        )

    assert raised.value.key == "mephisto.provider"
    assert "AWS_ACCESS_KEY_ID" in str(raised.value)


def test_launching_with_aws_credentials_passes_the_check():
    MTurkSandboxProvider.check_can_launch(provider_args=provider_args("mturk_sandbox"))
