"""The admin's part in a run's end: the shutdown action (confirmed, permission-
checked), deletes refused with the reason, and the audit logs read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages

from providers.models import ProviderCall
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app import services
from tasks_app.models import Agent, TaskRun, TaskRunStatus, Unit, UnitStatus
from tests.factories import AgentFactory, TaskRunFactory, UnitFactory, WorkerFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tasks_app/taskrun/"


def said(response) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request)]


def shutdown_post(client, *runs: TaskRun, confirm: bool):
    data = {
        "action": "shutdown_runs",
        "_selected_action": [run.pk for run in runs],
    }
    if confirm:
        data["confirm"] = "1"
    return client.post(CHANGELIST, data)


def test_shutting_down_from_the_admin_confirms_first_then_shuts_down(admin_client):
    run = TaskRunFactory(units=3)
    ended = TaskRunFactory(units=1, status=TaskRunStatus.COMPLETED)

    page = shutdown_post(admin_client, run, ended, confirm=False)

    assert page.status_code == 200
    content = page.content.decode()
    assert f"Run {run.pk} ({run.task.task_name}, running):" in content
    assert "3 unit(s) not yet taken will expire" in content
    assert "already ended, will be left as it is" in content
    assert TaskRun.objects.get(pk=run.pk).status == TaskRunStatus.RUNNING

    done = shutdown_post(admin_client, run, ended, confirm=True)

    assert done.status_code == 302
    run.refresh_from_db()
    assert run.status == TaskRunStatus.SHUT_DOWN
    assert run.end_reason == "shut down by admin in the admin"
    assert set(Unit.objects.filter(run=run).values_list("status", flat=True)) == {
        UnitStatus.EXPIRED
    }
    assert said(done) == [
        f"Run {run.pk} is shut down: 3 unit(s) not yet taken expired (and withdrawn "
        "from the provider, where posted); 0 unit(s) held by workers may still be "
        "submitted; 0 submitted unit(s) await review.",
        f"Run {ended.pk} not changed: run {ended.pk} has already ended: it is "
        "completed; nothing changed",
    ]


def test_the_shutdown_action_needs_the_change_permission(client):
    viewer = User.objects.create_user("vic", password="x" * 12, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_taskrun"))
    client.force_login(viewer)
    run = TaskRunFactory(units=2)

    listing = client.get(CHANGELIST)
    tried = shutdown_post(client, run, confirm=True)

    assert "shutdown_runs" not in listing.content.decode()
    # Not one of this user's actions: the list is shown again, nothing done.
    assert tried.status_code == 200
    assert said(tried) == []
    assert TaskRun.objects.get(pk=run.pk).status == TaskRunStatus.RUNNING


def test_deleting_a_run_workers_took_part_in_is_refused_with_the_reason(admin_client):
    agent = AgentFactory(unit__worker=WorkerFactory())
    run = agent.run

    page = admin_client.get(f"/admin/tasks_app/taskrun/{run.pk}/delete/")
    tried = admin_client.post(
        f"/admin/tasks_app/taskrun/{run.pk}/delete/", {"post": "yes"}
    )

    content = page.content.decode()
    assert (
        f"Run {run.pk} has 1 worker attempt(s) (agents), 0 with a submission: what "
        "workers did is kept, so it can&#x27;t be deleted." in content
    )
    assert "Shut down selected runs" in content
    assert tried.status_code == 200  # the same refusal, nothing deleted
    assert TaskRun.objects.filter(pk=run.pk).exists()
    assert Agent.objects.filter(pk=agent.pk).exists()


def test_deleting_a_unit_or_a_submitted_agent_is_refused_with_the_reason(
    admin_client,
):
    agent = AgentFactory(unit__worker=WorkerFactory(worker_name="alice"))
    services.submit_unit(agent_id=agent.public_id, final_data={"a": 1})

    unit_page = admin_client.get(f"/admin/tasks_app/unit/{agent.unit_id}/delete/")
    agent_page = admin_client.get(f"/admin/tasks_app/agent/{agent.pk}/delete/")

    assert (
        f"Unit {agent.unit_id} has 1 worker attempt(s) (agents), 1 with a submission"
        in unit_page.content.decode()
    )
    assert (
        f"Agent {agent.pk} holds a submission (worker alice): submissions are kept"
        in agent_page.content.decode()
    )


def test_bulk_deleting_runs_lists_why_each_worked_on_run_is_kept(admin_client):
    worked = AgentFactory(unit__worker=WorkerFactory()).run
    untouched = TaskRunFactory(units=2)

    page = admin_client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [worked.pk, untouched.pk]},
    )

    assert f"Run {worked.pk} has 1 worker attempt(s)" in page.content.decode()
    assert TaskRun.objects.count() == 2


def test_a_run_nobody_worked_on_can_still_be_deleted_in_the_admin(admin_client):
    run = TaskRunFactory(units=2)
    UnitFactory(assignment__run=run)

    admin_client.post(f"/admin/tasks_app/taskrun/{run.pk}/delete/", {"post": "yes"})

    assert not TaskRun.objects.filter(pk=run.pk).exists()
    assert not Unit.objects.exists()


def test_the_audit_log_and_the_provider_call_log_are_read_only(admin_client):
    worker = WorkerFactory()
    review = WorkerReview.objects.create(
        worker=worker, action=ReviewAction.BLOCK, reason="spam"
    )
    call = ProviderCall.objects.create(
        provider_type="mock",
        operation="expire_units",
        idempotency_key="expire_units:run=1:units=1-1:n=1",
        request={},
    )

    review_delete = admin_client.post(
        f"/admin/qualifications_app/workerreview/{review.pk}/delete/", {"post": "yes"}
    )
    call_delete = admin_client.post(
        f"/admin/providers/providercall/{call.pk}/delete/", {"post": "yes"}
    )
    call_change = admin_client.post(
        f"/admin/providers/providercall/{call.pk}/change/", {"operation": "x"}
    )

    assert review_delete.status_code == 403
    assert call_delete.status_code == 403
    assert call_change.status_code == 403
    assert WorkerReview.objects.filter(pk=review.pk).exists()
    call.refresh_from_db()
    assert call.operation == "expire_units"


def test_a_runs_end_and_its_reason_are_shown_in_the_list_and_on_its_page(
    admin_client,
):
    run = TaskRunFactory(units=1)
    services.shutdown_run(run_id=run.pk, reason="pilot has enough answers")
    run.refresh_from_db()

    listing = admin_client.get(CHANGELIST).content.decode()
    page = admin_client.get(f"{CHANGELIST}{run.pk}/change/").content.decode()

    assert "column-ended_at" in listing
    assert "Ended at" in page and "End reason" in page
    assert "pilot has enough answers" in page
