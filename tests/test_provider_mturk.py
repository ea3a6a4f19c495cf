"""MTurk provider contract tests: botocore's Stubber stands in for AWS."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from botocore.stub import ANY, Stubber

from providers.base import ProviderError, WorkRef
from providers.mturk import MTurkProvider, MTurkSandboxProvider
from providers.mturk.client import SANDBOX_ENDPOINT
from providers.mturk.provider import external_question, hit_request_token
from providers.mturk.review import bonus_request_token
from tasks_app import services
from tasks_app.models import TaskRun, Unit, UnitStatus
from tasks_app.run_config import ConfigError
from tasks_app.selectors import run_spec, task_url
from tests.factories import TaskRunFactory

pytestmark = pytest.mark.django_db

TASK_URL_BASE = "https://crowd.example.org"


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch, tmp_path):
    """Fake credentials, and no config file or instance metadata to fall back on."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_MTURK"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_URL = TASK_URL_BASE


def make_run(*, units: int = 2, provider_type: str = "mturk_sandbox") -> TaskRun:
    return TaskRunFactory(
        units=units,
        launching=True,
        provider_type=provider_type,
        architect_type="server",
        resolved_config={
            "mephisto": {
                "task": {"task_lifetime_in_seconds": 7200},
                "provider": {"requester_name": "lab_sandbox"},
            }
        },
        task_title="Label some images",
        task_description="Pick the label that fits each image.",
        task_reward=Decimal("0.50"),
        task_tags="images,labels",
        assignment_duration_in_seconds=1800,
    )


def unit_ids(run: TaskRun) -> list[int]:
    return list(run.units.order_by("pk").values_list("pk", flat=True))


def expect_hit_type(stub: Stubber, hit_type_id: str = "HITTYPE1") -> None:
    stub.add_response(
        "create_hit_type",
        {"HITTypeId": hit_type_id},
        expected_params={
            "AutoApprovalDelayInSeconds": 7 * 24 * 3600,
            "AssignmentDurationInSeconds": 1800,
            "Reward": "0.50",
            "Title": "Label some images",
            "Description": "Pick the label that fits each image.",
            "Keywords": "images,labels",
        },
    )


def expect_hit(
    stub: Stubber, run: TaskRun, unit_id: int, hit_id: str, hit_type_id="HITTYPE1"
) -> None:
    token = hit_request_token(run_spec(run), unit_id)
    stub.add_response(
        "create_hit_with_hit_type",
        {"HIT": {"HITId": hit_id, "HITTypeId": hit_type_id}},
        expected_params={
            "HITTypeId": hit_type_id,
            "MaxAssignments": 1,
            "LifetimeInSeconds": 7200,
            "Question": external_question(f"{TASK_URL_BASE}/?task_run_id={run.pk}"),
            "RequesterAnnotation": token,
            "UniqueRequestToken": token,
        },
    )


def test_launch_creates_one_hit_type_and_one_hit_per_unit():
    run = make_run(units=2)
    first, second = unit_ids(run)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_hit_type(stub)
        expect_hit(stub, run, first, "HIT1")
        expect_hit(stub, run, second, "HIT2")
        result = provider.launch_units(
            run=run_spec(run), unit_ids=[first, second], task_url=task_url(run)
        )
        stub.assert_no_pending_responses()

    assert result == {first: "HIT1", second: "HIT2"}


def test_the_hit_question_points_at_the_task_page_in_a_full_frame():
    run = make_run(units=1)

    question = external_question(f"{TASK_URL_BASE}/?task_run_id={run.pk}&b=2")

    assert (
        f"<ExternalURL>{TASK_URL_BASE}/?task_run_id={run.pk}&amp;b=2</ExternalURL>"
        in (question)
    )
    assert "<FrameHeight>0</FrameHeight>" in question
    assert "ExternalQuestion.xsd" in question


def test_request_tokens_are_stable_distinct_and_short_enough():
    run = make_run(units=2)
    first, second = unit_ids(run)

    token = hit_request_token(run_spec(run), first)

    assert token == hit_request_token(run_spec(TaskRun.objects.get(pk=run.pk)), first)
    assert token != hit_request_token(run_spec(run), second)
    assert token.startswith(f"crowdsite-{run.pk}-")
    assert len(hit_request_token(run_spec(run), 10**12)) <= 64


def test_a_lifetime_missing_from_the_config_defaults_to_31_days():
    run = make_run(units=1)
    run.resolved_config = {"mephisto": {"task": {}}}
    run.save(update_fields=["resolved_config"])
    (only,) = unit_ids(run)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_hit_type(stub)
        stub.add_response(
            "create_hit_with_hit_type",
            {"HIT": {"HITId": "HIT1"}},
            expected_params={
                "HITTypeId": "HITTYPE1",
                "MaxAssignments": 1,
                "LifetimeInSeconds": 31 * 24 * 3600,
                "Question": ANY,
                "RequesterAnnotation": ANY,
                "UniqueRequestToken": ANY,
            },
        )
        assert provider.launch_units(
            run=run_spec(run), unit_ids=[only], task_url=task_url(run)
        ) == {only: "HIT1"}


def test_a_retry_finds_the_hit_an_earlier_attempt_made_instead_of_posting_again():
    run = make_run(units=2)
    first, second = unit_ids(run)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        # First attempt: the first HIT is made, then MTurk throttles.
        expect_hit_type(stub)
        expect_hit(stub, run, first, "HIT1")
        stub.add_client_error(
            "create_hit_with_hit_type",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=400,
        )
        with pytest.raises(ProviderError) as first_attempt:
            provider.launch_units(
                run=run_spec(run), unit_ids=[first, second], task_url=task_url(run)
            )
        assert first_attempt.value.transient

        # Retry: MTurk refuses the first token again, the HIT is listed instead.
        expect_hit_type(stub)
        stub.add_client_error(
            "create_hit_with_hit_type",
            service_error_code="RequestError",
            service_message=(
                f'The idempotency token "{hit_request_token(run_spec(run), first)}" '
                "has already been processed. (1626172412406)"
            ),
            http_status_code=400,
        )
        stub.add_response(
            "list_hits",
            {
                "HITs": [
                    {"HITId": "OTHER", "RequesterAnnotation": "someone else's"},
                    {
                        "HITId": "HIT1",
                        "RequesterAnnotation": hit_request_token(run_spec(run), first),
                    },
                ]
            },
            expected_params={"MaxResults": 100},
        )
        expect_hit(stub, run, second, "HIT2")
        result = provider.launch_units(
            run=run_spec(run), unit_ids=[first, second], task_url=task_url(run)
        )
        stub.assert_no_pending_responses()

    assert result == {first: "HIT1", second: "HIT2"}


def test_the_earlier_hit_is_looked_for_on_every_page_of_the_listing():
    run = make_run(units=1)
    (only,) = unit_ids(run)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_hit_type(stub)
        stub.add_client_error(
            "create_hit_with_hit_type",
            service_error_code="RequestError",
            service_message="AWS.MechanicalTurk.HitAlreadyExists",
        )
        stub.add_response(
            "list_hits",
            {"HITs": [{"HITId": "OLD", "RequesterAnnotation": ""}], "NextToken": "p2"},
            expected_params={"MaxResults": 100},
        )
        stub.add_response(
            "list_hits",
            {
                "HITs": [
                    {
                        "HITId": "HIT1",
                        "RequesterAnnotation": hit_request_token(run_spec(run), only),
                    }
                ]
            },
            expected_params={"MaxResults": 100, "NextToken": "p2"},
        )
        result = provider.launch_units(
            run=run_spec(run), unit_ids=[only], task_url=task_url(run)
        )

    assert result == {only: "HIT1"}


def test_a_used_token_whose_hit_is_not_listed_yet_is_a_transient_error():
    run = make_run(units=1)
    (only,) = unit_ids(run)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_hit_type(stub)
        stub.add_client_error(
            "create_hit_with_hit_type",
            service_error_code="RequestError",
            service_message="The idempotency token has already been processed.",
        )
        stub.add_response("list_hits", {"HITs": []})
        with pytest.raises(ProviderError) as raised:
            provider.launch_units(
                run=run_spec(run), unit_ids=[only], task_url=task_url(run)
            )

    assert raised.value.transient


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


def test_expire_moves_each_hit_expiry_into_the_past():
    run = make_run(units=2)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        for hit_id in ("HIT1", "HIT2"):
            stub.add_response(
                "update_expiration_for_hit",
                {},
                expected_params={"HITId": hit_id, "ExpireAt": datetime(2015, 1, 1)},
            )
        provider.expire_units(run=run_spec(run), provider_unit_ids=["HIT1", "HIT2"])
        stub.assert_no_pending_responses()


def test_launching_through_the_service_records_each_units_hit(monkeypatch):
    run = make_run(units=2)
    first, second = unit_ids(run)
    client = MTurkSandboxProvider().client
    monkeypatch.setattr(MTurkSandboxProvider, "client", client)

    with Stubber(client) as stub:
        expect_hit_type(stub)
        expect_hit(stub, run, first, "HIT1")
        expect_hit(stub, run, second, "HIT2")
        launched = services.launch_units(run_id=run.pk)
        # Running it again finds nothing left to launch and calls nothing.
        services.launch_units(run_id=run.pk)

    assert launched == 2
    units = {u.pk: u for u in Unit.objects.filter(run=run)}
    assert units[first].provider_unit_id == "HIT1"
    assert units[second].provider_unit_id == "HIT2"
    assert {u.status for u in units.values()} == {UnitStatus.LAUNCHED}


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


# --- review and money -------------------------------------------------------------

WORK = WorkRef(
    worker_name="A1WORKER_sandbox",
    provider_unit_id="HIT1",
    provider_assignment_id="ASSIGN1",
)


def expect_assignment(
    stub: Stubber, *, worker_id="A1WORKER", hit_id="HIT1", status="Submitted"
) -> None:
    stub.add_response(
        "get_assignment",
        {
            "Assignment": {
                "AssignmentId": "ASSIGN1",
                "WorkerId": worker_id,
                "HITId": hit_id,
                "AssignmentStatus": status,
            }
        },
        expected_params={"AssignmentId": "ASSIGN1"},
    )


def test_approving_reads_the_assignment_then_approves_it():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_assignment(stub)
        stub.add_response(
            "approve_assignment", {}, expected_params={"AssignmentId": "ASSIGN1"}
        )
        result = provider.approve_work(work=WORK, token="review:1")
        stub.assert_no_pending_responses()

    assert result == {"assignment": "ASSIGN1", "status": "Approved"}


def test_approving_an_approved_assignment_sends_nothing_and_counts_as_done():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_assignment(stub, status="Approved")
        result = provider.approve_work(work=WORK, token="review:1")
        stub.assert_no_pending_responses()

    assert result["already"] is True


def test_rejecting_sends_the_feedback():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_assignment(stub)
        stub.add_response(
            "reject_assignment",
            {},
            expected_params={
                "AssignmentId": "ASSIGN1",
                "RequesterFeedback": "The answer is empty.",
            },
        )
        provider.reject_work(work=WORK, feedback="The answer is empty.", token="t")
        stub.assert_no_pending_responses()


def test_rejecting_without_feedback_is_refused_before_any_call():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client), pytest.raises(ProviderError) as raised:
        provider.reject_work(work=WORK, feedback=" ", token="t")

    assert not raised.value.transient


def test_a_bonus_sends_the_worker_assignment_amount_reason_and_a_derived_token():
    provider = MTurkSandboxProvider()
    requested_at = datetime.now(UTC)

    with Stubber(provider.client) as stub:
        expect_assignment(stub)
        stub.add_response(
            "send_bonus",
            {},
            expected_params={
                "WorkerId": "A1WORKER",
                "AssignmentId": "ASSIGN1",
                "BonusAmount": "1.50",
                "Reason": "Great work",
                "UniqueRequestToken": bonus_request_token("review:7", requested_at),
            },
        )
        provider.pay_bonus(
            work=WORK,
            amount=Decimal("1.5"),
            reason="Great work",
            token="review:7",
            requested_at=requested_at,
        )
        stub.assert_no_pending_responses()


def test_bonus_tokens_are_stable_short_and_tell_databases_apart():
    first = datetime(2026, 1, 1, tzinfo=UTC)
    second = datetime(2026, 6, 1, tzinfo=UTC)

    token = bonus_request_token("review:7", first)

    assert token == bonus_request_token("review:7", first)
    assert token == f"crowdsite-review-7-{int(first.timestamp())}"
    assert token != bonus_request_token("review:7", second)
    assert len(bonus_request_token("review:" + "9" * 80, first)) <= 64


def test_money_for_another_workers_assignment_is_refused_and_nothing_sent():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_assignment(stub, worker_id="A2SOMEONE")
        with pytest.raises(ProviderError) as raised:
            provider.pay_bonus(
                work=WORK, amount=Decimal("1.00"), reason="Thanks", token="t"
            )
        stub.assert_no_pending_responses()

    assert not raised.value.transient
    assert "belongs to worker A2SOMEONE_sandbox" in str(raised.value)


def test_an_assignment_of_another_hit_is_refused():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_assignment(stub, hit_id="HIT9")
        with pytest.raises(ProviderError, match="on HIT HIT9"):
            provider.approve_work(work=WORK, token="t")


def test_blocking_sends_the_mturk_worker_id_and_the_reason():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        stub.add_response(
            "create_worker_block",
            {},
            expected_params={"WorkerId": "A1WORKER", "Reason": "Copied answers"},
        )
        provider.block_worker(
            worker_name="A1WORKER_sandbox", reason="Copied answers", token="t"
        )
        stub.assert_no_pending_responses()


def test_notifying_sends_subject_message_and_worker_ids():
    provider = MTurkProvider()

    with Stubber(provider.client) as stub:
        stub.add_response(
            "notify_workers",
            {"NotifyWorkersFailureStatuses": []},
            expected_params={
                "Subject": "New HITs",
                "MessageText": "More work is up.",
                "WorkerIds": ["A1WORKER", "A2WORKER"],
            },
        )
        result = provider.notify_workers(
            worker_names=["A1WORKER", "A2WORKER"],
            subject="New HITs",
            message="More work is up.",
        )

    assert result == {"notified": 2, "failed": {}}


def test_the_balance_is_mturks_available_balance():
    provider = MTurkProvider()

    with Stubber(provider.client) as stub:
        stub.add_response(
            "get_account_balance", {"AvailableBalance": "10.25"}, expected_params={}
        )
        assert provider.account_balance() == Decimal("10.25")


def test_the_hit_type_auto_approves_after_the_runs_own_delay():
    run = make_run(units=1)
    run.resolved_config["mephisto"]["task"]["auto_approve_delay_in_seconds"] = 3600
    provider = MTurkSandboxProvider()
    stub = Stubber(provider.client)
    stub.add_response(
        "create_hit_type",
        {"HITTypeId": "HITTYPE1"},
        expected_params={
            "AutoApprovalDelayInSeconds": 3600,
            "AssignmentDurationInSeconds": 1800,
            "Reward": "0.50",
            "Title": "Label some images",
            "Description": "Pick the label that fits each image.",
            "Keywords": "images,labels",
        },
    )

    with stub:
        assert provider._create_hit_type(run_spec(run), []) == "HITTYPE1"

    stub.assert_no_pending_responses()
