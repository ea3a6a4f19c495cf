"""MTurk provider calls answered by botocore's Stubber: the run they launch, the
HIT type and HIT requests they expect, and an AWS environment nothing can reach.

A test module takes the fixtures by importing them under their function names
with a redundant alias (`from tests.mturk_stubber_calls import fake_aws_fixture
as fake_aws_fixture`); both are autouse, so importing them is enough.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from botocore.stub import Stubber

from providers.mturk.provider import external_question, hit_request_token
from tasks_app.models import TaskRun
from tasks_app.selectors import run_spec
from tests.factories import TaskRunFactory

TASK_URL_BASE = "https://crowd.example.org"


@pytest.fixture(name="fake_aws", autouse=True)
def fake_aws_fixture(monkeypatch, tmp_path):
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


@pytest.fixture(name="public_url", autouse=True)
def public_url_fixture(settings):
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
