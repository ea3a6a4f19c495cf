"""`manage.py run_status --run N [--json]`: a run's figures for scripts."""

from __future__ import annotations

import json
import time

import pytest
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from tasks_app import services
from tasks_app.models import Unit, UnitStatus
from tests.command_calls import run, run_from_terminal, run_json
from tests.factories import TaskRunFactory
from tests.run_figures import known_run
from tests.worker_calls import agent_id_for, submit_task

pytestmark = pytest.mark.django_db


def test_the_text_shows_units_by_status_approval_money_and_work_time():
    task_run = known_run()

    text = run("run_status", "--run", str(task_run.pk))

    assert text.startswith(f"Run {task_run.pk} (rate-sentences-pilot-1): running")
    assert "Units:         10" in text
    assert "  completed            2   20.0%" in text
    assert "  soft_rejected        1   10.0%" in text
    assert "Approval rate: 80.0% (4 approved of 5 reviewed)" in text
    assert "Spent:         $2.50 paid; $0.50 pending, $0.75 failed" in text
    assert "Committed:     $5.50 of a $10.00 budget (55.0%, $4.50 left)" in text
    assert (
        "Submissions:   8 (first 2026-01-05 10:00, last 2026-01-05 11:10 UTC)" in text
    )
    assert "Work time:     median 45.0 s, p90 1 min 13 s" in text
    assert "  alice         5         3         1     0  30.0 s" in text
    assert "  bob           4         1         0     1  1 min 10 s" in text
    assert "Provider call failures: 2" in text
    assert "approve (call" in text and "3 attempts): Throttled (1)" in text


def test_the_worker_table_is_bounded_and_counts_the_rest():
    task_run = known_run()

    text = run("run_status", "--run", str(task_run.pk), "--workers", "1")

    assert "Workers:       2 (the 1 with the most units)" in text
    assert "  alice" in text
    assert "  bob " not in text
    assert "  and 1 more" in text


def test_json_has_the_same_figures_as_plain_values():
    task_run = known_run()

    data = run_json("run_status", "--run", str(task_run.pk))

    assert data["run_id"] == task_run.pk
    assert data["units"] == 10
    assert data["units_by_status"]["accepted"] == 4
    assert data["approval_rate"] == pytest.approx(0.8)
    assert data["money"]["spent"] == "2.50"
    assert data["money"]["committed"] == "5.50"
    assert data["money"]["budget"] == "10.00"
    assert data["money"]["budget_left"] == "4.50"
    assert data["work_time"] == {"submissions": 8, "median": 45.0, "p90": 73.0}
    assert [w["worker_name"] for w in data["workers"]] == ["alice", "bob"]
    assert data["workers"][1]["late"] == 1
    assert (data["workers_total"], data["other_workers"]) == (2, 0)
    assert data["provider_failures"] == 2
    assert data["timeline"]["bucket_seconds"] == 300
    assert sum(b["submissions"] for b in data["timeline"]["buckets"]) == 8


def test_a_run_without_a_budget_or_submissions_says_so():
    from tests.factories import TaskRunFactory

    task_run = TaskRunFactory(units=2)

    text = run("run_status", "--run", str(task_run.pk))

    assert "Approval rate: - (nothing reviewed yet)" in text
    assert "Committed:     $0.10 (no budget set)" in text
    assert "Work time:     median –, p90 –" in text
    assert "Workers:       none has taken a unit yet" in text


def test_an_unknown_run_is_refused_with_exit_status_1(monkeypatch, capsys):
    with pytest.raises(CommandError, match="there is no task run 999"):
        run("run_status", "--run", "999")

    status, out, err = run_from_terminal(
        monkeypatch, capsys, "tasks_app", "run_status", "--run", "999"
    )

    assert status == 1
    assert out == ""
    assert "there is no task run 999" in err


def test_a_worker_count_below_one_is_refused():
    task_run = known_run()

    with pytest.raises(CommandError, match="--workers must be at least 1"):
        run("run_status", "--run", str(task_run.pk), "--workers", "0")


# --- when and why a run ended; --watch ------------------------------------------


def shut_down_run_with_a_submission(execute):
    task_run = TaskRunFactory(units=2)
    client = APIClient()
    agent_id = agent_id_for(client, task_run, worker="alice")
    execute(lambda: submit_task(client, task_run, agent_id, {"ok": 1}))
    services.shutdown_run(
        run_id=task_run.pk,
        reason="no submission for 600 seconds (no_submission_patience)",
    )
    task_run.refresh_from_db()
    return task_run


def test_json_says_when_and_why_the_run_ended_and_what_awaits_review(execute):
    task_run = shut_down_run_with_a_submission(execute)

    data = run_json("run_status", "--run", str(task_run.pk))

    assert data["status"] == "shut_down"
    assert data["ended_at"] == task_run.ended_at.isoformat()
    assert data["end_reason"] == (
        "no submission for 600 seconds (no_submission_patience)"
    )
    assert data["awaiting_review"] == 1
    assert data["launched_at"] == task_run.launched_at.isoformat()


def test_a_running_run_has_no_end_in_json():
    task_run = TaskRunFactory(units=1)

    data = run_json("run_status", "--run", str(task_run.pk))

    assert (data["ended_at"], data["end_reason"]) == (None, "")


def test_the_text_says_when_and_why_the_run_ended(execute):
    task_run = shut_down_run_with_a_submission(execute)

    text = run("run_status", "--run", str(task_run.pk))

    assert (
        f"Ended:         {task_run.ended_at:%Y-%m-%d %H:%M} UTC: no submission for "
        "600 seconds (no_submission_patience)"
    ) in text
    assert "collection is over; 1 submission(s) still await review" in text


def test_watch_refreshes_until_the_run_has_ended_and_is_reviewed(execute, monkeypatch):
    task_run = shut_down_run_with_a_submission(execute)
    unit = Unit.objects.get(run=task_run, status=UnitStatus.COMPLETED)
    sleeps = []

    def review_while_asleep(seconds):
        sleeps.append(seconds)
        services.approve_unit(unit_id=unit.pk)

    monkeypatch.setattr(time, "sleep", review_while_asleep)

    out = run("run_status", "--run", str(task_run.pk), "--watch", "--json")

    shown = [json.loads(line) for line in out.splitlines()]
    assert [data["awaiting_review"] for data in shown] == [1, 0]
    assert sleeps == [10.0]


def test_watch_refuses_an_interval_under_a_second():
    task_run = TaskRunFactory(units=1)

    with pytest.raises(CommandError, match="--interval must be at least 1 second"):
        run("run_status", "--run", str(task_run.pk), "--watch", "--interval", "0.1")
