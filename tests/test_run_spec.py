"""A run as its provider is handed it: `selectors.run_spec`, plain data read from
the run's own fields, without a query for a run from the run cache."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from providers.prolific import ProlificProvider
from tasks_app import selectors
from tasks_app.selectors import run_spec
from tests.factories import TaskRunFactory

pytestmark = pytest.mark.django_db

QUALIFICATION = {"QualificationTypeId": "QT1", "Comparator": "Exists"}


def test_the_spec_carries_the_runs_titles_money_durations_and_settings():
    run = TaskRunFactory(
        provider_type="mturk_sandbox",
        task_title="Label some images",
        task_description="Pick the label that fits each image.",
        task_tags="images,labels",
        task_reward=Decimal("0.75"),
        assignment_duration_in_seconds=900,
        resolved_config={
            "mephisto": {
                "task": {
                    "auto_approve_delay_in_seconds": 3600,
                    "task_lifetime_in_seconds": 7200,
                },
                "provider": {"requester_name": "lab_sandbox"},
            }
        },
        shared_state={"mturk_specific_qualifications": [QUALIFICATION]},
    )

    spec = run_spec(run)

    assert (spec.run_id, spec.created_at) == (run.pk, run.created_at)
    assert (spec.title, spec.description, spec.keywords) == (
        "Label some images",
        "Pick the label that fits each image.",
        "images,labels",
    )
    assert spec.reward == Decimal("0.75")
    assert (spec.assignment_duration, spec.auto_approve_delay, spec.task_lifetime) == (
        900,
        3600,
        7200,
    )
    assert dict(spec.provider_args) == {"requester_name": "lab_sandbox"}
    assert spec.specific_requirements == (QUALIFICATION,)


def test_durations_the_config_leaves_out_are_left_to_the_provider():
    spec = run_spec(TaskRunFactory(provider_type="mturk_sandbox"))

    assert (spec.auto_approve_delay, spec.task_lifetime) == (None, None)
    assert dict(spec.provider_args) == {}
    assert spec.specific_requirements == ()


def test_only_the_runs_own_providers_requirements_are_in_its_spec():
    run = TaskRunFactory(
        provider_type="prolific",
        shared_state={"mturk_specific_qualifications": [QUALIFICATION]},
    )

    assert run_spec(run).specific_requirements == ()


def test_the_spec_is_frozen():
    spec = run_spec(TaskRunFactory())

    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.title = "another title"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.provider_args["requester_name"] = "someone else"  # type: ignore[index]


def test_a_cached_run_is_handed_to_its_provider_without_a_query():
    run = selectors.cached_run(TaskRunFactory(provider_type="prolific").pk)
    assert run is not None

    with CaptureQueriesContext(connection) as queries:
        code = ProlificProvider.completion_code_for(run_spec(run))
        page = ProlificProvider.page_config(run_spec(run))

    assert queries.captured_queries == []
    assert code and page == {}
