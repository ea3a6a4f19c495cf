"""The requester API's worker, through HTTP: their standing as the admin's
worker page shows it, and, with ?explain=RUN_ID, every eligibility rule of a
run for them, passed or not."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tasks_app.models import UnitStatus
from tests.factories import (
    GrantedQualificationFactory,
    QualificationFactory,
    TaskFactory,
    TaskRunFactory,
    UnitFactory,
    WorkerFactory,
)

pytestmark = pytest.mark.django_db

VIEW_WORKERS = "tasks_app.view_worker"
VIEW_RUNS = "tasks_app.view_taskrun"
API = "/api/v1/workers/"


def client_with(*permissions: str) -> APIClient:
    """An API client whose token's user has exactly `permissions`."""
    user = User.objects.create_user("requester")
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user)}")
    return client


def units_of(worker, task_name: str, *statuses: str) -> None:
    run = TaskRunFactory(task=TaskFactory(task_name=task_name))
    for status in statuses:
        UnitFactory(assignment__run=run, worker=worker, status=status)


def test_a_worker_with_their_qualifications_units_and_decisions():
    worker = WorkerFactory(provider_type="mturk", worker_name="A1B2C3")
    GrantedQualificationFactory(
        worker=worker, qualification=QualificationFactory(name="lab-cohort"), value=3
    )
    GrantedQualificationFactory(
        worker=worker, qualification=QualificationFactory(name="english")
    )
    units_of(worker, "rate", UnitStatus.ACCEPTED, UnitStatus.ACCEPTED)
    units_of(
        worker,
        "label",
        UnitStatus.ACCEPTED,
        UnitStatus.REJECTED,
        UnitStatus.SOFT_REJECTED,
        UnitStatus.COMPLETED,
        UnitStatus.ASSIGNED,
    )
    UnitFactory(status=UnitStatus.ACCEPTED, worker=WorkerFactory())  # not theirs

    response = client_with(VIEW_WORKERS).get(f"{API}mturk:A1B2C3/")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("worker", "provider", "id", "blocked")} == {
        "worker": "mturk:A1B2C3",
        "provider": "mturk",
        "id": "A1B2C3",
        "blocked": False,
    }
    assert body["qualifications"] == [
        {"name": "english", "value": 1},
        {"name": "lab-cohort", "value": 3},
    ]
    assert body["units"] == {
        "assigned": 1,
        "completed": 1,
        "accepted": 2 + 1,
        "rejected": 1,
        "soft_rejected": 1,
    }
    assert (body["approved"], body["rejected"], body["soft_rejected"]) == (3, 1, 1)
    assert body["approval_rate"] == 0.75
    assert body["tasks"] == [
        {
            "task_name": "label",
            "units": 5,
            "completed": 1,
            "approved": 1,
            "rejected": 1,
            "soft_rejected": 1,
        },
        {
            "task_name": "rate",
            "units": 2,
            "completed": 0,
            "approved": 2,
            "rejected": 0,
            "soft_rejected": 0,
        },
    ]
    assert "explain" not in body


def test_a_new_blocked_worker_has_no_rate_and_says_blocked():
    WorkerFactory(worker_name="alice", is_blocked=True)

    body = client_with(VIEW_WORKERS).get(f"{API}mock:alice/").json()

    assert (body["blocked"], body["units"], body["approval_rate"]) == (True, {}, None)
    assert (body["qualifications"], body["tasks"]) == ([], [])


def test_a_sandbox_worker_is_named_as_this_site_names_them():
    WorkerFactory(provider_type="mturk_sandbox", worker_name="A1_sandbox")

    by_id = client_with(VIEW_WORKERS).get(f"{API}mturk_sandbox:A1/")

    assert by_id.status_code == 200
    assert by_id.json()["worker"] == "mturk_sandbox:A1_sandbox"


def test_a_worker_never_seen_answers_404():
    response = client_with(VIEW_WORKERS).get(f"{API}mock:nobody/")

    assert response.status_code == 404
    assert response.json() == {"detail": "this site has never seen worker mock:nobody"}


@pytest.mark.parametrize(
    ("ref", "said"),
    [
        ("alice", "'alice' is not PROVIDER:ID"),
        ("nowhere:alice", "unknown provider 'nowhere'"),
        ("mock:-dash", "'-dash' is not a valid worker id"),
    ],
)
def test_a_bad_worker_reference_answers_400(ref, said):
    response = client_with(VIEW_WORKERS).get(f"{API}{ref}/")

    assert (response.status_code, response.json()["field"]) == (400, "ref")
    assert response.json()["detail"].startswith(f"ref: {said}")


# --- ?explain=RUN_ID ------------------------------------------------------------


def test_explain_says_an_eligible_worker_passes_every_rule():
    run = TaskRunFactory(units=1)
    WorkerFactory(worker_name="alice")

    response = client_with(VIEW_WORKERS, VIEW_RUNS).get(
        f"{API}mock:alice/", {"explain": run.pk}
    )

    assert response.status_code == 200
    explain = response.json()["explain"]
    assert (explain["run"], explain["eligible"]) == (run.pk, True)
    assert all(rule["passed"] and rule["reason"] == "" for rule in explain["rules"])
    assert [rule["rule"] for rule in explain["rules"]][-1] == (
        "a launched unit this worker hasn't done"
    )


def test_explain_says_why_an_ineligible_worker_gets_no_work():
    QualificationFactory(name="skill")
    run = TaskRunFactory(
        units=1,
        qualifications=[{"qualification_name": "skill", "comparator": "Exists"}],
    )
    WorkerFactory(worker_name="alice", is_blocked=True)

    explain = (
        client_with(VIEW_WORKERS, VIEW_RUNS)
        .get(f"{API}mock:alice/", {"explain": run.pk})
        .json()["explain"]
    )

    assert explain["eligible"] is False
    failed = {r["rule"]: r["reason"] for r in explain["rules"] if not r["passed"]}
    assert set(failed) == {
        "not on the local blocklist",
        "qualification skill Exists",
    }
    assert failed["qualification skill Exists"] == (
        "This task needs the qualification 'skill'."
    )
    assert {"rule", "passed", "reason"} == set(explain["rules"][0])


@pytest.mark.parametrize("run_id", ["abc", "0", "-1", "1.5", "²"])
def test_explain_of_something_not_a_run_id_answers_400(run_id):
    WorkerFactory(worker_name="alice")

    response = client_with(VIEW_WORKERS, VIEW_RUNS).get(
        f"{API}mock:alice/", {"explain": run_id}
    )

    assert (response.status_code, response.json()["field"]) == (400, "explain")


def test_explain_given_twice_answers_400():
    run = TaskRunFactory(units=1)
    WorkerFactory(worker_name="alice")

    response = client_with(VIEW_WORKERS, VIEW_RUNS).get(
        f"{API}mock:alice/?explain={run.pk}&explain={run.pk}"
    )

    assert (response.status_code, response.json()["field"]) == (400, "explain")


def test_explain_of_a_run_that_does_not_exist_answers_400():
    WorkerFactory(worker_name="alice")

    response = client_with(VIEW_WORKERS, VIEW_RUNS).get(
        f"{API}mock:alice/", {"explain": 999_999}
    )

    assert response.status_code == 400
    assert response.json() == {
        "detail": "explain: there is no task run 999999",
        "field": "explain",
    }


def test_explain_needs_the_permission_to_view_runs_too():
    run = TaskRunFactory(units=1)
    WorkerFactory(worker_name="alice")

    response = client_with(VIEW_WORKERS).get(f"{API}mock:alice/", {"explain": run.pk})

    assert response.status_code == 403
    assert VIEW_RUNS in response.json()["detail"]


# --- who may ----------------------------------------------------------------------


def test_anonymous_callers_get_401():
    WorkerFactory(worker_name="alice")

    assert APIClient().get(f"{API}mock:alice/").status_code == 401


def test_callers_without_the_permission_get_403_naming_it():
    WorkerFactory(worker_name="alice")

    response = client_with(VIEW_RUNS).get(f"{API}mock:alice/")

    assert response.status_code == 403
    assert VIEW_WORKERS in response.json()["detail"]
