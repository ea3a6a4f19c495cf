"""A quality unit takes the provider slot its worker arrived through (an MTurk
HIT), and a new unit takes its place in the data row on a slot of its own, so no
data row is left without a way in; the quality unit is paid through its slot."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tasks_app import services
from tasks_app.models import Agent, Payment, Unit, UnitStatus
from tasks_app.selectors.quality import SCREENING_UNIT_INDEX
from tests.mturk_fake import launch_task
from tests.mturk_fake import mturk_fixture as mturk_fixture
from tests.prolific_fake import prolific_fixture as prolific_fixture
from tests.worker_calls import arrive, submit_task

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
    use_screening_task: true
    passed_qualification_name: rating-screened
    block_qualification: rating-screen-failed
    max_screening_units: 2
    hooks: tests.quality_hooks
  task:
    task_name: mturk-screening
    task_title: Rate a sentence
    task_description: Say whether the sentence reads well.
    task_reward: 0.50
    assignment_duration_in_seconds: 600
    allowed_concurrent: 1
"""


def test_on_mturk_a_screening_unit_takes_the_hit_and_its_unit_is_posted_again(
    tmp_path, settings, execute, mturk
):
    settings.PUBLIC_URL = "https://crowd.example.org"
    run = launch_task(tmp_path, execute, CONFIG, rows=2)
    real = Unit.objects.filter(run=run).order_by("pk").first()
    hit = real.provider_unit_id
    assignment = mturk.accept(hit, "AWORKER1")

    response = execute(lambda: arrive(APIClient(), run, "AWORKER1", assignment, hit))

    data = response.json()["data"]
    agent = Agent.objects.select_related("unit").get(public_id=data["agent_id"])
    screening = agent.unit
    row = Unit.objects.filter(assignment_id=real.assignment_id).get()
    # The unit of the HIT the worker took became their screening unit...
    assert screening.pk == real.pk
    assert screening.unit_index == SCREENING_UNIT_INDEX
    assert screening.provider_unit_id == hit
    assert agent.provider_assignment_id == assignment
    # ... and a new unit, on a HIT of its own, took its place in the data row.
    assert row.pk != real.pk
    assert row.unit_index == 0
    assert row.status == UnitStatus.LAUNCHED
    assert row.provider_unit_id not in ("", hit)
    assert len(mturk.hits) == 3

    execute(lambda: submit_task(APIClient(), run, data["agent_id"], {"rating": "bad"}))
    mturk.submit(hit, "AWORKER1", assignment_id=assignment)
    execute(lambda: services.approve_unit(unit_id=screening.pk))

    assert mturk.params("ApproveAssignment") == [{"AssignmentId": assignment}]
    assert Payment.objects.get(unit=screening, kind="reward").state == "paid"


PROLIFIC_CONFIG = """\
#@package _global_
defaults:
  - /mephisto/blueprint: static_react_task
  - /mephisto/architect: server
  - /mephisto/provider: prolific
mephisto:
  architect:
    public_url: https://crowd.example.org
  blueprint:
    task_source: ${task_dir}/bundle.js
    data_jsonl: ${task_dir}/rows.jsonl
    units_per_assignment: 1
    use_screening_task: true
    passed_qualification_name: rating-screened
    block_qualification: rating-screen-failed
    max_screening_units: 2
    hooks: tests.quality_hooks
  provider:
    prolific_estimated_completion_time_in_minutes: 3
  task:
    task_name: prolific-screening
    task_title: Rate a sentence
    task_description: Say whether the sentence reads well.
    task_reward: 150
    assignment_duration_in_seconds: 600
    allowed_concurrent: 1
"""


def test_on_prolific_a_screening_unit_takes_a_place_and_the_study_gets_one_more(
    tmp_path, settings, execute, prolific
):
    settings.PUBLIC_URL = "https://crowd.example.org"
    run = launch_task(tmp_path, execute, PROLIFIC_CONFIG, rows=2)
    (study,) = set(
        Unit.objects.filter(run=run).values_list("provider_unit_id", flat=True)
    )
    assert prolific.studies[study]["total_available_places"] == 2
    submission = prolific.submit(study, "P1", status="ACTIVE")

    response = execute(lambda: arrive(APIClient(), run, "P1", submission, study))

    agent = Agent.objects.select_related("unit").get(
        public_id=response.json()["data"]["agent_id"]
    )
    assert agent.unit.unit_index == SCREENING_UNIT_INDEX
    assert agent.unit.provider_unit_id == study
    # Both data rows still have a place: the study has one more.
    assert prolific.studies[study]["total_available_places"] == 3
    rows = Unit.objects.filter(run=run, unit_index__gte=0)
    assert rows.count() == 2
    assert set(rows.values_list("status", flat=True)) == {UnitStatus.LAUNCHED}
