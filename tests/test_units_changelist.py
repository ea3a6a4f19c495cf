"""The units list in the admin: the same few queries for any number of units or
runs, a run filter, and each unit's submission in a readable line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tasks_app.admin.units import RECENT_RUNS, submission_summary
from tasks_app.models import Agent, AgentStatus, TaskRun, Unit, UnitStatus, Worker
from tests.factories import AgentFactory, TaskRunFactory, UnitFactory, WorkerFactory

pytestmark = pytest.mark.django_db

UNITS = "/admin/tasks_app/unit/"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def submitted_run(units: int) -> TaskRun:
    """A run whose every unit was submitted by one of a few workers."""
    run = TaskRunFactory(units=units)
    crowd = Worker.objects.bulk_create(
        [
            Worker(provider_type="mock", worker_name=f"run{run.pk}-w{n}")
            for n in range(5)
        ]
    )
    held = list(Unit.objects.filter(run=run))
    for n, unit in enumerate(held):
        unit.status, unit.worker = UnitStatus.COMPLETED, crowd[n % len(crowd)]
    Unit.objects.bulk_update(held, ["status", "worker"])
    now = timezone.now()
    Agent.objects.bulk_create(
        Agent(
            public_id=f"a{unit.pk}",
            unit=unit,
            worker=unit.worker,
            run=run,
            status=AgentStatus.COMPLETED,
            registration_id=f"r{unit.pk}",
            submission={"rating": "good", "text": f"Unit {unit.pk} reads well."},
            deadline_at=now + timedelta(hours=1),
            submitted_at=now,
        )
        for unit in held
    )
    return run


def queries_for(admin_client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.mark.parametrize(
    "query", ["", "?run={run}", "?run={run}&status__exact=completed"]
)
def test_the_units_list_takes_the_same_few_queries_for_few_or_many_units(
    admin_client, query
):
    small = submitted_run(3)
    admin_client.get(UNITS)  # a first page view
    small_count, _ = queries_for(admin_client, UNITS + query.format(run=small.pk))
    large = submitted_run(250)
    for _ in range(RECENT_RUNS + 5):
        TaskRunFactory()

    large_count, page = queries_for(admin_client, UNITS + query.format(run=large.pk))

    assert small_count == large_count <= 8
    assert page.count('class="action-checkbox"') == 100  # a full page of them


def test_each_unit_shows_its_submission_in_one_readable_line(admin_client):
    run = submitted_run(2)
    unit = Unit.objects.filter(run=run).order_by("pk").first()

    _, page = queries_for(admin_client, f"{UNITS}?run={run.pk}")

    assert f"rating: good · text: Unit {unit.pk} reads well." in page


def test_the_units_holders_submission_is_shown_beside_a_late_one(admin_client):
    holder = WorkerFactory()
    unit = UnitFactory(status=UnitStatus.COMPLETED, worker=holder)
    AgentFactory(
        unit=unit,
        worker=holder,
        status=AgentStatus.COMPLETED,
        submitted_at=timezone.now(),
        submission={"answer": "the holder's"},
    )
    AgentFactory(
        unit=unit,
        worker=WorkerFactory(),
        status=AgentStatus.COMPLETED,
        submitted_at=timezone.now(),
        is_late=True,
        submission={"answer": "a late one"},
    )

    _, page = queries_for(admin_client, f"{UNITS}?run={unit.run_id}")

    assert "answer: the holder&#x27;s" in page
    assert "a late one" not in page


def test_the_run_filter_lists_the_latest_runs_and_the_chosen_one(admin_client):
    old = submitted_run(2)
    other = submitted_run(2)
    latest = [TaskRunFactory() for _ in range(RECENT_RUNS)]

    _, everything = queries_for(admin_client, UNITS)
    _, chosen = queries_for(admin_client, f"{UNITS}?run={old.pk}")

    assert f'href="?run={latest[-1].pk}"' in everything
    assert f'href="?run={old.pk}"' not in everything  # older than the latest 15
    assert f'href="?run={old.pk}"' in chosen
    units = Unit.objects.filter(run=old).values_list("pk", flat=True)
    assert all(f'value="{pk}"' in chosen for pk in units)
    hidden = Unit.objects.filter(run=other).values_list("pk", flat=True)
    assert not any(f'name="_selected_action" value="{pk}"' in chosen for pk in hidden)


def test_a_run_filter_that_is_not_a_run_id_is_refused(admin_client):
    submitted_run(1)

    response = admin_client.get(f"{UNITS}?run=abc")

    assert response.status_code == 302
    assert response.url.endswith("?e=1")


@pytest.mark.parametrize(
    "submission, line",
    [
        (None, ""),
        ({"rating": "good"}, "rating: good"),
        (
            {"rating": "good", "text": "A  long\n\ttext"},
            "rating: good · text: A long text",
        ),
        ({"scores": [1, 2], "meta": {"a": True}}, 'meta: {"a":true} · scores: [1,2]'),
        ({}, "{}"),
        (["a", "b"], '["a","b"]'),
        ({"text": "x" * 200}, "text: " + "x" * 83 + "…"),
    ],
)
def test_a_submission_is_summed_up_short(submission, line):
    assert submission_summary(submission) == line
