"""The requester API's runs: the list (paginated, filtered), one run's figures,
shutting a run down, and approving many of its units at once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    TaskRun,
    TaskRunStatus,
    Unit,
    UnitStatus,
)
from tests.api_calls import (
    api_client,
    get,
    operator_client,
    post,
    reviewer_client,
    submitted_run,
    unit_of,
    viewer,
)
from tests.factories import TaskFactory, TaskRunFactory
from tests.review_calls import calls_fixture as calls_fixture

pytestmark = pytest.mark.django_db


# --- the list ----------------------------------------------------------------------


def test_the_runs_are_listed_newest_first_in_pages_with_results():
    runs = [TaskRunFactory() for _ in range(3)]

    first = get(viewer(), "/runs/", page_size=2).json()

    assert first["count"] == 3
    assert [run["id"] for run in first["results"]] == [runs[2].pk, runs[1].pk]
    assert first["previous"] is None
    assert "page=2" in first["next"]
    second = get(viewer("v2"), "/runs/", page_size=2, page=2).json()
    assert [run["id"] for run in second["results"]] == [runs[0].pk]


def test_each_listed_run_says_what_it_is_and_how_far_it_got():
    run = submitted_run("w1", "w2")

    [row] = get(viewer(), "/runs/").json()["results"]

    assert row["id"] == run.pk
    assert row["task_name"] == run.task.task_name
    assert row["status"] == "running"
    assert (row["units"], row["submitted"], row["awaiting_review"]) == (2, 2, 2)
    assert row["provider_type"] == "mock"
    assert row["ended_at"] is None


def test_the_list_is_filtered_by_task_name_and_status():
    ours = TaskFactory(task_name="sentiment")
    running = TaskRunFactory(task=ours)
    ended = TaskRunFactory(task=ours, status=TaskRunStatus.SHUT_DOWN)
    TaskRunFactory()  # another task's
    client = viewer()

    by_task = get(client, "/runs/", task_name="sentiment").json()
    by_both = get(client, "/runs/", task_name="sentiment", status="shut_down").json()
    by_status = get(client, "/runs/", status="running").json()

    assert [r["id"] for r in by_task["results"]] == [ended.pk, running.pk]
    assert [r["id"] for r in by_both["results"]] == [ended.pk]
    assert running.pk in [r["id"] for r in by_status["results"]]
    assert ended.pk not in [r["id"] for r in by_status["results"]]
    assert get(client, "/runs/", task_name="nope").json()["count"] == 0


def test_an_unknown_status_filter_is_refused_naming_the_field():
    response = get(viewer(), "/runs/", status="finished")

    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "status"
    assert "'finished'" in body["detail"]
    assert "running" in body["detail"]


# --- one run -----------------------------------------------------------------------


def test_a_run_shows_its_units_by_status_money_and_end():
    run = submitted_run("w1", "w2", reward="0.50")

    body = get(viewer(), f"/runs/{run.pk}/").json()

    assert body["id"] == run.pk
    assert body["task_name"] == run.task.task_name
    assert body["status"] == "running"
    assert body["units_by_status"] == {"completed": 2}
    assert body["awaiting_review"] == 2
    assert body["money"]["spent"] == "0.00"
    assert body["money"]["committed_rewards"] == "1.00"
    assert (body["ended_at"], body["end_reason"]) == (None, "")


def test_a_shut_down_run_shows_when_and_why_it_ended():
    run = submitted_run("w1")
    client = operator_client()
    post(client, f"/runs/{run.pk}/shutdown/", {"reason": "enough data"})

    body = get(client, f"/runs/{run.pk}/").json()

    assert body["status"] == "shut_down"
    assert body["ended_at"] is not None
    assert body["end_reason"] == "enough data"


def test_an_unknown_run_is_404_as_json():
    response = get(viewer(), "/runs/999999/")

    assert response.status_code == 404
    assert "detail" in response.json()


# --- shutdown ----------------------------------------------------------------------


def test_shutting_a_run_down_expires_its_untaken_units():
    run = TaskRunFactory(units=3)

    response = post(operator_client(), f"/runs/{run.pk}/shutdown/")

    assert response.status_code == 200
    assert response.json()["status"] == "shut_down"
    assert response.json()["expired"] == 3
    run.refresh_from_db()
    assert run.status == TaskRunStatus.SHUT_DOWN
    assert run.end_reason == "shut down through the API"
    assert set(Unit.objects.filter(run=run).values_list("status", flat=True)) == {
        UnitStatus.EXPIRED
    }


def test_shutting_a_run_down_twice_is_a_conflict_that_changes_nothing():
    run = TaskRunFactory(units=1)
    client = operator_client()
    post(client, f"/runs/{run.pk}/shutdown/", {"reason": "first"})
    ended_at = TaskRun.objects.get(pk=run.pk).ended_at

    response = post(client, f"/runs/{run.pk}/shutdown/", {"reason": "second"})

    assert response.status_code == 409
    assert "already ended" in response.json()["detail"]
    run.refresh_from_db()
    assert (run.ended_at, run.end_reason) == (ended_at, "first")


def test_shutting_down_an_unknown_run_is_404():
    response = post(operator_client(), "/runs/999999/shutdown/")

    assert response.status_code == 404


def test_a_reviewer_without_the_change_permission_cant_shut_a_run_down():
    run = TaskRunFactory(units=1)

    response = post(reviewer_client(), f"/runs/{run.pk}/shutdown/")

    assert response.status_code == 403
    assert "tasks_app.change_taskrun" in response.json()["detail"]
    assert TaskRun.objects.get(pk=run.pk).status == TaskRunStatus.RUNNING


# --- approving many ----------------------------------------------------------------


def test_approving_units_by_id_approves_those_and_pays_their_rewards(
    django_capture_on_commit_callbacks, calls
):
    run = submitted_run("w1", "w2", "w3", reward="0.50")
    chosen = [unit_of(run, "w1").pk, unit_of(run, "w3").pk]

    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            reviewer_client(),
            f"/runs/{run.pk}/approve/",
            {
                "unit_ids": chosen,
                "feedback": "Thanks!",
            },
        )

    assert response.status_code == 200
    assert response.json() == {"approved": chosen, "refused": {}, "amount": "1.00"}
    statuses = dict(Agent.objects.filter(run=run).values_list("unit_id", "status"))
    assert statuses == {
        chosen[0]: AgentStatus.APPROVED,
        unit_of(run, "w2").pk: AgentStatus.COMPLETED,
        chosen[1]: AgentStatus.APPROVED,
    }
    rewards = Payment.objects.filter(kind="reward")
    assert sorted(p.unit_id for p in rewards) == chosen
    assert sorted(name for name, _ in calls) == ["approve_work", "approve_work"]


def test_approving_all_approves_every_submission_awaiting_review(
    django_capture_on_commit_callbacks,
):
    run = submitted_run("w1", "w2", reward="0.50")
    client = reviewer_client()
    post(client, f"/units/{unit_of(run, 'w1').pk}/reject/", {"feedback": "empty"})

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, f"/runs/{run.pk}/approve/", {"all": True})

    assert response.status_code == 200
    assert response.json() == {
        "approved": [unit_of(run, "w2").pk],
        "refused": {},
        "amount": "0.50",
    }
    assert unit_of(run, "w1").status == UnitStatus.REJECTED
    assert unit_of(run, "w2").status == UnitStatus.ACCEPTED


def test_a_unit_already_decided_is_listed_as_refused_not_approved_again():
    run = submitted_run("w1", "w2")
    client = reviewer_client()
    decided = unit_of(run, "w1").pk
    post(client, f"/units/{decided}/approve/")

    response = post(
        client,
        f"/runs/{run.pk}/approve/",
        {"unit_ids": [decided, unit_of(run, "w2").pk]},
    )

    assert response.status_code == 200
    assert response.json()["approved"] == [unit_of(run, "w2").pk]
    assert "already approved" in response.json()["refused"][str(decided)]
    assert Payment.objects.filter(unit_id=decided, kind="reward").count() == 1


def test_unit_ids_of_another_run_are_refused_and_nothing_is_approved():
    run = submitted_run("w1")
    other = submitted_run("w2")
    foreign = unit_of(other, "w2").pk

    response = post(
        reviewer_client(),
        f"/runs/{run.pk}/approve/",
        {"unit_ids": [unit_of(run, "w1").pk, foreign]},
    )

    assert response.status_code == 400
    assert response.json()["field"] == "unit_ids"
    assert str(foreign) in response.json()["detail"]
    assert not Agent.objects.filter(status=AgentStatus.APPROVED).exists()
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"unit_ids": []}, {"all": False}, {"unit_ids": [1], "all": True}],
    ids=["nothing", "no-ids", "all-false", "both"],
)
def test_approving_needs_either_unit_ids_or_all(body):
    run = submitted_run("w1")

    response = post(reviewer_client(), f"/runs/{run.pk}/approve/", body)

    assert response.status_code == 400
    assert response.json()["field"] == "unit_ids"
    assert response.json()["detail"].startswith("unit_ids: ")
    assert not Agent.objects.filter(status=AgentStatus.APPROVED).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"unit_ids": [3, "one"]}, "unit_ids.1"),
        ({"unit_ids": 5}, "unit_ids"),
        ({"all": "maybe"}, "all"),
    ],
)
def test_a_malformed_bulk_approval_is_refused_naming_the_field(body, field):
    run = submitted_run("w1")

    response = post(reviewer_client(), f"/runs/{run.pk}/approve/", body)

    assert response.status_code == 400
    assert response.json()["field"] == field


def test_a_bulk_approval_without_the_review_permission_is_refused():
    run = submitted_run("w1")

    response = post(
        api_client("tasks_app.view_taskrun"), f"/runs/{run.pk}/approve/", {"all": True}
    )

    assert response.status_code == 403
    assert "tasks_app.review_unit" in response.json()["detail"]
    assert not Payment.objects.exists()


def test_the_bulk_approval_pays_the_units_reward_not_a_figure_from_the_client():
    run = submitted_run("w1", reward="0.50")

    post(
        reviewer_client(),
        f"/runs/{run.pk}/approve/",
        {
            "unit_ids": [unit_of(run, "w1").pk],
            "amount": "99.00",
        },
    )

    [reward] = Payment.objects.filter(kind="reward")
    assert reward.amount == Decimal("0.50")


def test_a_page_of_runs_costs_the_same_queries_whatever_its_length():
    client = viewer()
    TaskRunFactory(units=2)
    with CaptureQueriesContext(connection) as one:
        get(client, "/runs/")
    for _ in range(5):
        submitted_run("w1")
    with CaptureQueriesContext(connection) as six:
        assert get(client, "/runs/").json()["count"] == 6

    assert len(six) == len(one)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1001"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"page_size": "+5"}, "page_size"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "two"}, "page"),
    ],
)
def test_a_page_or_page_size_out_of_range_is_refused_naming_it(params, field):
    TaskRunFactory()

    response = get(viewer(), "/runs/", **params)

    assert response.status_code == 400
    assert response.json()["field"] == field


def test_a_page_past_the_last_is_404_and_last_is_the_last():
    runs = [TaskRunFactory() for _ in range(3)]
    client = viewer()

    past = get(client, "/runs/", page_size=2, page=3)
    last = get(client, "/runs/", page_size=2, page="last")

    assert past.status_code == 404
    assert [run["id"] for run in last.json()["results"]] == [runs[0].pk]


def test_ids_beyond_any_row_are_refused_or_not_found_never_a_server_error():
    run = submitted_run("w1")
    client = reviewer_client()

    too_large = post(client, f"/runs/{run.pk}/approve/", {"unit_ids": [2**63]})
    largest = post(client, f"/runs/{run.pk}/approve/", {"unit_ids": [2**63 - 1]})
    no_run = get(client, f"/runs/{2**64}/")

    assert too_large.status_code == largest.status_code == 400
    assert too_large.json()["field"] == "unit_ids.0"
    assert largest.json()["field"] == "unit_ids"
    assert no_run.status_code == 404
