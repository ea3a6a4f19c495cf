"""What `review_run` shows of a submission besides its data: the work time, a
blocked worker, the page's metadata and error reports; and nothing a worker
sent can act on the reviewer's terminal."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from tasks_app import services
from tasks_app.models import Agent, Unit, Worker
from tests.command_calls import run
from tests.factories import TaskRunFactory
from tests.review_run_calls import csv_row, pilot, review_csv
from tests.worker_calls import agent_id_for, submit_task
from tests.worker_calls import client_fixture as client_fixture

pytestmark = pytest.mark.django_db


def interactive(task_run, keys: str = "q\n") -> str:
    out = io.StringIO()
    call_command(
        "review_run",
        "--run",
        str(task_run.pk),
        stdin=io.StringIO(keys),
        stdout=out,
        stderr=io.StringIO(),
    )
    return out.getvalue()


def submitted_after(time_machine, task_run, worker: str, seconds: int, answer=None):
    """`worker` takes a unit and submits `answer` `seconds` later: their agent's
    public id."""
    client = APIClient()
    time_machine.move_to(timezone.now(), tick=False)
    agent_id = agent_id_for(client, task_run, worker)
    time_machine.shift(timedelta(seconds=seconds))
    submit_task(client, task_run, agent_id, answer or {"rating": "good"})
    return agent_id


def test_the_work_time_from_accepting_to_submitting_is_shown(time_machine):
    task_run = TaskRunFactory(units=1)
    submitted_after(time_machine, task_run, "alice", 4 * 60 + 12)

    out = interactive(task_run)

    assert "Work time: 4 min 12 s" in out


def test_a_blocked_worker_is_marked_blocked():
    task_run, units = pilot(["alice", "bob"])
    services.block_from_review(unit_id=units["alice"].pk, reason="Spam answers")

    out = interactive(task_run, "n\nq\n")

    assert "Worker: mock:alice (BLOCKED: gets no more work)" in out
    assert "Worker: mock:bob  (" in out


def test_blocking_in_the_session_marks_the_workers_other_submissions():
    task_run = TaskRunFactory(units=2)
    client = APIClient()
    for registration in ("first", "second"):
        agent_id = agent_id_for(client, task_run, "alice", registration=registration)
        submit_task(client, task_run, agent_id, {"rating": registration})

    out = interactive(task_run, "x\nSpam answers\nn\nq\n")

    assert Worker.objects.get(worker_name="alice").is_blocked
    second = out.split("Submission 2 of 2")[1]
    assert "Worker: mock:alice (BLOCKED: gets no more work)" in second


def test_the_pages_metadata_and_error_reports_are_shown(client):
    task_run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, task_run, "alice")
    client.post(
        f"/submit_metadata?task_run_id={task_run.pk}",
        {"USED_AGENT_ID": agent_id, "metadata": {"browser": "Firefox 128"}},
        "json",
    )
    client.post(
        f"/log_error?task_run_id={task_run.pk}",
        {"USED_AGENT_ID": agent_id, "error_data": {"message": "image failed"}},
        "json",
    )
    submit_task(client, task_run, agent_id, {"rating": "good"})

    out = interactive(task_run)

    assert "Metadata:" in out
    assert '"browser": "Firefox 128"' in out
    assert "Errors the page reported (1):" in out
    assert '{"message": "image failed"}' in out.split("Errors the page reported")[1]


def test_nothing_a_worker_sent_reaches_the_terminal_as_a_control_character(client):
    task_run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, task_run, "alice")
    client.post(
        f"/submit_metadata?task_run_id={task_run.pk}",
        {"USED_AGENT_ID": agent_id, "metadata": {"note": "\x9b2J wiped"}},
        "json",
    )
    client.post(
        f"/log_error?task_run_id={task_run.pk}",
        {"USED_AGENT_ID": agent_id, "error_data": "\x1b]0;owned\x07 and\nmore"},
        "json",
    )
    answer = {"rating": "good \u202eevil", "\x1b[31mkey": "\x7f"}
    submit_task(client, task_run, agent_id, answer)

    out = interactive(task_run)

    printed = {c for c in out if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F}
    assert printed <= {"\n"}
    assert "\u202e" not in out
    assert "good \\u202eevil" in out
    assert "\\u009b2J wiped" in out
    assert "\\u001b]0;owned\\u0007 and\\nmore" in out


def test_scripted_approval_marks_a_blocked_workers_unit():
    task_run, units = pilot(["alice"])
    services.block_from_review(unit_id=units["alice"].pk, reason="Spam answers")

    text = run("review_run", "--run", str(task_run.pk), "--approve-all")

    assert "Approved unit" in text
    assert "by mock:alice (BLOCKED: gets no more work), paid $0.50." in text


def test_the_csv_report_shows_work_times_and_blocked_workers(tmp_path, time_machine):
    task_run = TaskRunFactory(units=2, task_reward="0.50")
    submitted_after(time_machine, task_run, "alice", 65)
    submitted_after(time_machine, task_run, "bob", 30)
    alice, bob = (
        Unit.objects.get(run=task_run, worker__worker_name=name)
        for name in ("alice", "bob")
    )
    services.block_from_review(unit_id=bob.pk, reason="Spam answers")
    path = review_csv(
        tmp_path,
        [csv_row(alice, Approve="x"), csv_row(bob, Reject="Spam answers")],
    )

    text = run("review_run", "--run", str(task_run.pk), "--from-csv", path)

    holder = Agent.objects.get(unit=alice)
    assert f"agent {holder.pk}) by mock:alice, work time 1 min 05 s, paid" in text
    assert "by mock:bob (BLOCKED), work time 30.0 s:" in text
