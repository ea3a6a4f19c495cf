"""Nothing lost: work submitted on MTurk that our task page never reported is
found by the sweep (ListAssignmentsForHIT) and recorded for review, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber
from django.conf import settings as django_settings
from django.utils import timezone
from rest_framework.test import APIClient

from providers.base import ProviderError
from providers.mturk import MTurkSandboxProvider
from providers.mturk.provider import parse_answer
from tasks_app import services
from tasks_app import tasks as task_tasks
from tasks_app.models import (
    Agent,
    AgentStatus,
    TaskRun,
    TaskRunStatus,
    Unit,
    UnitStatus,
    Worker,
)
from tasks_app.services.recovery import LISTING_KEY
from tests.factories import TaskRunFactory
from tests.mturk_fake import MTurkFake, launch_task
from tests.mturk_fake import mturk_fixture as mturk_fixture
from tests.mturk_fake import stub_aws_fixture as stub_aws_fixture
from tests.worker_calls import submit_task

pytestmark = pytest.mark.django_db

CONFIG = """\
#@package _global_
defaults:
  - /mephisto/blueprint: static_react_task
  - /mephisto/architect: server
  - /mephisto/provider: mturk_sandbox
mephisto:
  blueprint:
    task_source: ${task_dir}/bundle.js
    data_jsonl: ${task_dir}/rows.jsonl
    units_per_assignment: 1
  task:
    task_name: mturk-recovery
    task_title: Rate a sentence
    task_description: Say whether the sentence reads well.
    task_reward: 0.50
    assignment_duration_in_seconds: 600
"""

ANSWER_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/"
    "2005-10-01/QuestionFormAnswers.xsd"
)


def answer_xml(**fields: str) -> str:
    answers = "".join(
        f"<Answer><QuestionIdentifier>{k}</QuestionIdentifier>"
        f"<FreeText>{v}</FreeText></Answer>"
        for k, v in fields.items()
    )
    return f'<QuestionFormAnswers xmlns="{ANSWER_NS}">{answers}</QuestionFormAnswers>'


@pytest.fixture
def launch(tmp_path, settings, execute, mturk):
    """Launch a run of `rows` units on the MTurk sandbox (the fake)."""
    settings.PUBLIC_URL = "https://crowd.example.org"

    def _launch(rows: int = 1) -> TaskRun:
        return launch_task(tmp_path, execute, CONFIG, rows)

    return _launch


def units_of(run: TaskRun) -> list[Unit]:
    return list(Unit.objects.filter(run=run).order_by("pk"))


def arrive(run: TaskRun, unit: Unit, worker_id: str, assignment_id: str) -> str:
    """`worker_id` opens our page for the HIT; their agent's id."""
    client = APIClient()
    response = client.post(
        f"/request_agent?task_run_id={run.pk}",
        {
            "provider_data": {
                "worker_name": worker_id,
                "assignment_id": assignment_id,
                "hit_id": unit.provider_unit_id,
                "agent_registration_id": f"{worker_id}-{assignment_id}",
                "provider_type": run.provider_type,
            },
            "client_timestamp": 1700000000.0,
        },
        format="json",
    )
    agent_id = response.json()["data"]["agent_id"]
    assert agent_id, response.json()
    return agent_id


def sweep(run: TaskRun) -> list:
    return services.recover_submissions(run_id=run.pk)


def test_work_mturk_has_but_the_page_never_reported_is_recorded_for_review(
    launch, mturk: MTurkFake
):
    run = launch(rows=2)
    unit = units_of(run)[0]
    assignment_id = mturk.add_assignment(
        unit.provider_unit_id, "A1LOST", answer=answer_xml(rating="good")
    )

    (recovered,) = sweep(run)

    unit.refresh_from_db()
    agent = Agent.objects.get(unit=unit)
    assert unit.status == UnitStatus.COMPLETED
    assert unit.worker == Worker.objects.get(
        provider_type="mturk_sandbox", worker_name="A1LOST_sandbox"
    )
    assert (agent.status, agent.provider_assignment_id) == (
        AgentStatus.COMPLETED,
        assignment_id,
    )
    assert agent.submission == {"rating": "good"}
    assert agent.submitted_at is not None
    # The page never reported it: paid only by a person deciding on it alone.
    assert agent.from_provider_listing is True
    listing = agent.metadata[LISTING_KEY]
    assert listing["answer_xml"] == answer_xml(rating="good")
    assert listing["provider_assignment_id"] == assignment_id
    assert recovered.agent_id == agent.pk
    # Both units' HITs were asked, one page each.
    assert mturk.count("ListAssignmentsForHIT") == 2


def test_a_second_sweep_records_nothing_new(launch, mturk):
    run = launch()
    mturk.add_assignment(units_of(run)[0].provider_unit_id, "A1LOST")
    sweep(run)

    assert sweep(run) == []
    assert sweep(run) == []
    assert Agent.objects.filter(run=run).count() == 1
    # The completed unit is not asked about again.
    assert mturk.count("ListAssignmentsForHIT") == 1


def test_a_worker_whose_submit_to_our_page_was_lost_gets_it_on_their_own_agent(
    launch, mturk
):
    run = launch()
    unit = units_of(run)[0]
    assignment_id = mturk.accept(unit.provider_unit_id, "A1W")
    agent_id = arrive(run, unit, "A1W", assignment_id)
    # The worker submits on MTurk; our /submit_task never arrives.
    mturk.submit(unit.provider_unit_id, "A1W", assignment_id=assignment_id)

    (recovered,) = sweep(run)

    agent = Agent.objects.get(public_id=agent_id)
    assert Agent.objects.filter(run=run).count() == 1
    assert recovered.agent_id == agent.pk
    assert agent.status == AgentStatus.COMPLETED
    assert agent.is_late is False
    assert agent.metadata[LISTING_KEY]["provider_assignment_id"] == assignment_id
    assert Unit.objects.get(pk=unit.pk).status == UnitStatus.COMPLETED


def test_work_the_page_reported_is_left_alone(launch, mturk):
    run = launch()
    unit = units_of(run)[0]
    assignment_id = mturk.accept(unit.provider_unit_id, "A1W")
    client = APIClient()
    agent_id = arrive(run, unit, "A1W", assignment_id)
    assert submit_task(client, run, agent_id, {"rating": "good"}).status_code == 200
    mturk.submit(unit.provider_unit_id, "A1W", assignment_id=assignment_id)

    assert sweep(run) == []

    agent = Agent.objects.get(public_id=agent_id)
    assert agent.submission == {"rating": "good"}
    assert not (agent.metadata or {}).get(LISTING_KEY)
    assert agent.from_provider_listing is False
    # Only units without a submission are asked about.
    assert mturk.count("ListAssignmentsForHIT") == 0


def test_a_unit_held_here_by_another_worker_keeps_its_holder(launch, mturk):
    run = launch()
    unit = units_of(run)[0]
    holder_assignment = mturk.accept(unit.provider_unit_id, "A1HOLDER")
    arrive(run, unit, "A1HOLDER", holder_assignment)
    # MTurk lists another worker's submission on the same HIT.
    mturk.hits[unit.provider_unit_id]["NumberOfAssignmentsAvailable"] = 1
    other = mturk.add_assignment(unit.provider_unit_id, "A1OTHER")

    (recovered,) = sweep(run)

    unit.refresh_from_db()
    assert unit.status == UnitStatus.ASSIGNED
    assert unit.worker.worker_name == "A1HOLDER_sandbox"
    kept = Agent.objects.get(provider_assignment_id=other)
    assert kept.pk == recovered.agent_id
    assert kept.submitted_at is not None
    assert kept.is_late is True
    assert kept.status == AgentStatus.DISCONNECT
    assert sweep(run) == []


def test_the_periodic_task_polls_running_and_lately_shut_down_mturk_runs(launch, mturk):
    run = launch()
    mturk.add_assignment(units_of(run)[0].provider_unit_id, "A1LOST")
    TaskRunFactory(units=1)  # a mock run: its provider lists nothing
    old = TaskRunFactory(
        provider_type="mturk_sandbox",
        status=TaskRunStatus.SHUT_DOWN,
        ended_at=timezone.now() - timedelta(days=30),
    )
    recent = TaskRunFactory(
        provider_type="mturk",
        status=TaskRunStatus.SHUT_DOWN,
        ended_at=timezone.now() - timedelta(hours=1),
    )

    assert services.runs_to_poll() == [run.pk, recent.pk]
    assert old.pk not in services.runs_to_poll()
    assert task_tasks.recover_submissions.delay().get() == 2
    assert Agent.objects.filter(run=run, submitted_at__isnull=False).count() == 1


def test_the_sweep_is_on_the_beat_schedule():
    entry = django_settings.CELERY_BEAT_SCHEDULE["recover-submissions"]
    assert entry["task"] == "tasks_app.tasks.recover_submissions"


def test_a_throttled_listing_records_nothing_and_a_retry_records_once(launch, mturk):
    run = launch()
    mturk.add_assignment(units_of(run)[0].provider_unit_id, "A1LOST")
    mturk.fail_next(4, "throttle", operation="ListAssignmentsForHIT")

    with pytest.raises(ProviderError) as raised:
        sweep(run)
    assert raised.value.transient
    assert Agent.objects.filter(run=run).count() == 0

    assert len(sweep(run)) == 1
    assert Agent.objects.filter(run=run).count() == 1


# --- the Answer XML ------------------------------------------------------------------


def test_answer_xml_fields_are_read_and_anything_else_gives_nothing():
    xml = (
        f'<QuestionFormAnswers xmlns="{ANSWER_NS}">'
        "<Answer><QuestionIdentifier>comment</QuestionIdentifier>"
        "<FreeText>fine &amp; dandy</FreeText></Answer>"
        "<Answer><QuestionIdentifier>colour</QuestionIdentifier>"
        "<SelectionIdentifier>red</SelectionIdentifier>"
        "<SelectionIdentifier>blue</SelectionIdentifier></Answer>"
        "</QuestionFormAnswers>"
    )

    assert parse_answer(xml) == {"comment": "fine & dandy", "colour": ["red", "blue"]}
    assert parse_answer("") == {}
    assert parse_answer("not xml <") == {}
    assert parse_answer('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>') == {}


# --- Stubber: the listing's parameters --------------------------------------------


def test_stub_the_listing_asks_for_submitted_assignments_page_by_page(stub_aws):
    provider = MTurkSandboxProvider()
    submitted = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    expected = {
        "HITId": "HIT1",
        "AssignmentStatuses": ["Submitted"],
        "MaxResults": 100,
    }
    with Stubber(provider.client) as stub:
        stub.add_response(
            "list_assignments_for_hit",
            {
                "NextToken": "page2",
                "NumResults": 1,
                "Assignments": [
                    {
                        "AssignmentId": "ASSIGN1",
                        "WorkerId": "A1W",
                        "HITId": "HIT1",
                        "AssignmentStatus": "Submitted",
                        "SubmitTime": submitted,
                        "Answer": answer_xml(rating="good"),
                    }
                ],
            },
            expected_params=expected,
        )
        stub.add_response(
            "list_assignments_for_hit",
            {"NumResults": 0, "Assignments": []},
            expected_params={**expected, "NextToken": "page2"},
        )

        (work,) = provider.submitted_work(provider_unit_ids=["HIT1"])

        stub.assert_no_pending_responses()
    assert (work.provider_unit_id, work.provider_assignment_id) == ("HIT1", "ASSIGN1")
    assert work.worker_name == "A1W_sandbox"
    assert work.answer == {"rating": "good"}
    assert work.submitted_at == submitted
