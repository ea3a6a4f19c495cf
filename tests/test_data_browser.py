"""`DataBrowser`: the results for analysis in Python, with Mephisto's method names
and dict keys; runs built through the worker API, decided through the review
services. It reads only, in a fixed number of queries whatever the size."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from qualifications_app.services import grant_qualification, revoke_qualification
from tasks_app import services
from tasks_app.models import Agent, TaskRun, Unit
from tasks_app.selectors import DataBrowser, DataBrowserError
from tasks_app.selectors.export import ResultsExport
from tests.factories import TaskFactory, TaskRunFactory, WorkerFactory
from tests.worker_calls import (
    agent_id_for,
    multipart_submit,
    png,
    submit_late_beside_holder,
    submit_task,
    upload_run,
)
from tests.worker_calls import client_fixture as client_fixture
from tests.worker_calls import media_root_fixture as media_root_fixture

pytestmark = pytest.mark.django_db

MEPHISTO_KEYS = [
    "worker_id",
    "unit_id",
    "assignment_id",
    "status",
    "data",
    "task_start",
    "task_end",
]
CROWDSITE_KEYS = [
    "worker",
    "agent_id",
    "task_run_id",
    "task_name",
    "unit_index",
    "unit_status",
    "review",
    "accepted_at",
    "submitted_at",
    "work_time_s",
    "files",
    "metadata",
    "late",
    "submissions",
]


def submit(client, run: TaskRun, worker: str, answer=None) -> Agent:
    """`worker` takes one of `run`'s units and submits `answer`; their agent."""
    registration = f"{worker}-{Agent.objects.filter(run=run).count()}"
    agent_id = agent_id_for(client, run, worker, registration=registration)
    response = submit_task(client, run, agent_id, answer or {"rating": "good"})
    assert response.status_code == 200, response.content
    return Agent.objects.get(public_id=agent_id)


def browsed_units(units) -> list[tuple[int, int]]:
    return [(unit.run_id, unit.pk) for unit in units]


def writes(queries: CaptureQueriesContext) -> list[str]:
    verbs = ("INSERT", "UPDATE", "DELETE")
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith(verbs)]


# --- which units --------------------------------------------------------------------


def test_the_units_of_a_task_name_are_its_submitted_units_of_every_run(client):
    task = TaskFactory(task_name="rate-pilot-1")
    first = TaskRunFactory(task=task, units=3)
    second = TaskRunFactory(task=task, units=2)
    other = TaskRunFactory(units=1, task__task_name="rate-pilot-2")
    done = [
        submit(client, second, "alice"),
        submit(client, first, "bob"),
        submit(client, first, "carol"),
    ]
    agent_id_for(client, first, "dave", registration="dave-still-working")
    submit(client, other, "erin")

    units = DataBrowser().get_units_for_task_name("rate-pilot-1")

    expected = sorted((agent.run_id, agent.unit_id) for agent in done)
    assert browsed_units(units) == expected
    assert all(isinstance(unit, Unit) for unit in units)


def test_the_units_of_a_run_id_are_that_runs_submitted_units_a_string_id_too(client):
    task = TaskFactory(task_name="rate-pilot-1")
    first = TaskRunFactory(task=task, units=2)
    second = TaskRunFactory(task=task, units=2)
    submit(client, first, "alice")
    wanted = submit(client, second, "bob")

    by_int = DataBrowser().get_units_for_run_id(second.pk)
    by_str = DataBrowser().get_units_for_run_id(str(second.pk))

    assert browsed_units(by_int) == [(second.pk, wanted.unit_id)]
    assert browsed_units(by_str) == browsed_units(by_int)


def test_a_unit_nobody_submitted_has_no_data_to_give(client):
    run = TaskRunFactory(units=1)
    unit = run.units.get()

    with pytest.raises(DataBrowserError, match=f"unit {unit.pk} has no submission"):
        DataBrowser().get_data_from_unit(unit)


# --- a unit's dict ------------------------------------------------------------------


def test_a_units_dict_has_mephistos_keys_then_crowdsites(client, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    run = TaskRunFactory(units=1, task__task_name="rate-pilot-1")
    agent_id = agent_id_for(client, run, "alice")
    client.post(
        f"/submit_metadata?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "metadata": {"tips": "shorter texts"}},
        "json",
    )
    time_machine.shift(timedelta(seconds=42.5))
    submit_task(client, run, agent_id, {"rating": "good", "why": {"clear": True}})
    agent = Agent.objects.select_related("unit", "worker").get(public_id=agent_id)
    services.approve_unit(unit_id=agent.unit_id)
    services.pay_bonus(unit_id=agent.unit_id, amount="0.25", reason="careful")
    services.pay_bonus(unit_id=agent.unit_id, amount="0.50", reason="fast")
    browser = DataBrowser()

    [unit] = browser.get_units_for_run_id(run.pk)
    row = browser.get_data_from_unit(unit)

    assert list(row) == MEPHISTO_KEYS + CROWDSITE_KEYS
    assert row == {
        "worker_id": agent.worker_id,
        "unit_id": agent.unit_id,
        "assignment_id": agent.unit.assignment_id,
        "status": "approved",
        "data": {
            "inputs": {"text": "row 0"},
            "outputs": {"rating": "good", "why": {"clear": True}},
        },
        "task_start": agent.created_at.timestamp(),
        "task_end": agent.submitted_at.timestamp(),
        "worker": "mock:alice",
        "agent_id": agent.pk,
        "task_run_id": run.pk,
        "task_name": "rate-pilot-1",
        "unit_index": 0,
        "unit_status": "accepted",
        "review": {"decision": "approve", "feedback": "", "bonus": Decimal("0.75")},
        "accepted_at": agent.created_at,
        "submitted_at": agent.submitted_at,
        "work_time_s": 42.5,
        "files": [],
        "metadata": {"tips": "shorter texts"},
        "late": False,
        "submissions": 1,
    }


def test_a_rejected_units_dict_carries_the_rejection_feedback(client):
    run = TaskRunFactory(units=1)
    agent = submit(client, run, "alice", {"rating": "bad"})
    services.reject_unit(unit_id=agent.unit_id, feedback="Answers copied the example")

    browser = DataBrowser()
    row = browser.get_data_from_unit(browser.get_units_for_run_id(run.pk)[0])

    assert (row["status"], row["unit_status"]) == ("rejected", "rejected")
    assert row["review"] == {
        "decision": "reject",
        "feedback": "Answers copied the example",
        "bonus": None,
    }


def test_a_rejection_undone_by_an_approval_shows_the_approval(client):
    run = TaskRunFactory(units=1)
    agent = submit(client, run, "alice")
    services.reject_unit(unit_id=agent.unit_id, feedback="Answers copied the example")
    services.approve_unit(
        unit_id=agent.unit_id, override_rejection=True, reason="Checked again: fine"
    )

    [row] = DataBrowser().iter_results(run_id=run.pk)

    assert (row["status"], row["unit_status"]) == ("approved", "accepted")
    assert row["review"] == {
        "decision": "approve",
        "feedback": "Checked again: fine",
        "bonus": None,
    }


def test_an_undecided_units_review_is_empty(client):
    run = TaskRunFactory(units=1)
    submit(client, run, "alice")

    [row] = DataBrowser().iter_results(run_id=run.pk)

    assert (row["status"], row["unit_status"]) == ("completed", "completed")
    assert row["review"] == {"decision": None, "feedback": None, "bonus": None}


def test_a_units_dict_lists_the_files_stored_with_the_submission(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)
    response = multipart_submit(client, run, agent_id, {"rating": "good"}, file=png())
    assert response.status_code == 200, response.content

    [row] = DataBrowser().iter_results(run_id=run.pk)

    [record] = row["files"]
    assert record["name"] == "drawing.png"
    assert (
        record["path"]
        == Agent.objects.get(public_id=agent_id).submission["files"][0]["path"]
    )


def test_a_unit_read_elsewhere_gives_the_same_dict(client):
    run = TaskRunFactory(units=2)
    agent = submit(client, run, "alice")
    browser = DataBrowser()
    [browsed] = browser.get_units_for_run_id(run.pk)

    plain = Unit.objects.get(pk=agent.unit_id)

    assert browser.get_data_from_unit(plain) == browser.get_data_from_unit(browsed)


# --- a late submission beside the holder's ------------------------------------------


@pytest.fixture
def late_beside_holder(client, time_machine):
    """alice takes the one unit and times out, bob takes it and submits, alice
    submits late: (the unit, alice's agent, bob's agent)."""
    run = TaskRunFactory(units=1)
    late_id, holder_id = submit_late_beside_holder(
        client, time_machine, run, late="alice", holder="bob"
    )
    late = Agent.objects.get(public_id=late_id)
    holder = Agent.objects.get(public_id=holder_id)
    return run.units.get(), late, holder


def test_a_unit_with_a_late_submission_is_listed_once_and_gives_the_holders(
    late_beside_holder,
):
    unit, late, holder = late_beside_holder
    browser = DataBrowser()

    units = browser.get_units_for_run_id(unit.run_id)
    rows = list(browser.iter_results(run_id=unit.run_id))

    assert browsed_units(units) == [(unit.run_id, unit.pk)]
    assert [row["agent_id"] for row in rows] == [holder.pk]
    assert (rows[0]["worker"], rows[0]["late"], rows[0]["submissions"]) == (
        "mock:bob",
        False,
        2,
    )


def test_every_submission_of_a_unit_holders_first_the_late_one_marked(
    late_beside_holder,
):
    unit, late, holder = late_beside_holder

    rows = DataBrowser().get_submissions_from_unit(unit)

    assert [(r["agent_id"], r["worker"], r["late"]) for r in rows] == [
        (holder.pk, "mock:bob", False),
        (late.pk, "mock:alice", True),
    ]
    assert rows[1]["status"] == "timeout"  # undecided: the agent had timed out
    assert rows[1]["data"]["outputs"] == {"rating": "late"}


def test_once_the_late_submission_is_decided_it_is_the_units_dict(late_beside_holder):
    unit, late, holder = late_beside_holder
    services.approve_unit(unit_id=unit.pk, agent_id=late.pk)

    row = DataBrowser().get_data_from_unit(unit)

    assert (row["agent_id"], row["status"], row["late"]) == (late.pk, "approved", True)
    assert row["review"]["decision"] == "approve"


@pytest.mark.parametrize(
    ("holder_late", "decide"),
    [(False, None), (False, "late"), (False, "holder"), (True, None)],
    ids=["undecided", "late-decided", "holder-decided", "both-late"],
)
def test_the_submission_chosen_is_the_exports_first_row_of_the_unit(
    client, time_machine, holder_late, decide
):
    run = TaskRunFactory(units=1)
    late_id, holder_id = submit_late_beside_holder(
        client, time_machine, run, late="alice", holder="bob", holder_late=holder_late
    )
    unit = run.units.get()
    if decide is not None:
        chosen = Agent.objects.get(public_id=late_id if decide == "late" else holder_id)
        services.approve_unit(unit_id=unit.pk, agent_id=chosen.pk)
    export = "".join(ResultsExport(run_ids=[run.pk]).chunks("jsonl"))
    exported = [json.loads(line)["agent_id"] for line in export.splitlines()]

    rows = DataBrowser().get_submissions_from_unit(unit)

    assert [row["agent_id"] for row in rows] == exported


# --- workers by qualification -------------------------------------------------------


def test_the_workers_with_a_qualification_are_its_grants_of_value_1_by_default():
    alice, bob, carol, dave = (
        WorkerFactory(worker_name=name) for name in ("alice", "bob", "carol", "dave")
    )
    sandbox = WorkerFactory(provider_type="mturk_sandbox", worker_name="A1_sandbox")
    for worker in (alice, carol, sandbox):
        grant_qualification(worker=worker, name="rate-allowlist")
    grant_qualification(worker=bob, name="rate-allowlist", value=0)
    grant_qualification(worker=dave, name="other-list")
    revoke_qualification(worker=carol, name="rate-allowlist")
    browser = DataBrowser()

    assert browser.get_workers_with_qualification("rate-allowlist") == [
        "mock:alice",
        "mturk_sandbox:A1_sandbox",
    ]
    assert browser.get_workers_with_qualification("rate-allowlist", value=None) == [
        "mock:alice",
        "mock:bob",
        "mturk_sandbox:A1_sandbox",
    ]
    assert browser.get_workers_with_qualification("rate-allowlist", value=0) == [
        "mock:bob"
    ]


def test_an_unknown_qualification_is_refused_naming_the_close_ones():
    grant_qualification(worker=WorkerFactory(), name="rate-allowlist")

    with pytest.raises(DataBrowserError) as refused:
        DataBrowser().get_workers_with_qualification("rate-alowlist")

    assert str(refused.value) == (
        "there is no qualification named 'rate-alowlist'; "
        "did you mean 'rate-allowlist'?"
    )


# --- unknown runs and tasks ---------------------------------------------------------


def test_an_unknown_task_name_is_refused_naming_the_close_ones():
    TaskRunFactory(task__task_name="sentence-rating-pilot-1")
    browser = DataBrowser()

    with pytest.raises(DataBrowserError) as refused:
        browser.get_units_for_task_name("sentence-rating-pilot1")
    with pytest.raises(LookupError, match="no task named 'sentence-rating-pilot1'"):
        browser.iter_results(task_name="sentence-rating-pilot1")  # before any row

    assert str(refused.value) == (
        "there is no task named 'sentence-rating-pilot1'; "
        "did you mean 'sentence-rating-pilot-1'?"
    )


def test_an_unknown_run_id_is_refused():
    browser = DataBrowser()

    with pytest.raises(DataBrowserError, match="there is no run 999999"):
        browser.get_units_for_run_id(999999)
    with pytest.raises(DataBrowserError, match="'run-1' is not a run id"):
        browser.get_units_for_run_id("run-1")
    with pytest.raises(ValueError, match="run_id or task_name"):
        browser.iter_results()


def test_the_task_name_list_is_every_task_by_name():
    TaskRunFactory(task__task_name="b-task")
    TaskRunFactory(task__task_name="a-task")

    assert DataBrowser().get_task_name_list() == ["a-task", "b-task"]


# --- queries ------------------------------------------------------------------------


def decided_run(client, task_name: str, units: int) -> TaskRun:
    """A run of `units` units, every one submitted; the first approved with a
    bonus, the second rejected, the rest undecided."""
    run = TaskRunFactory(units=units, task__task_name=task_name)
    agents = [submit(client, run, f"{task_name}-worker-{i}") for i in range(units)]
    services.approve_unit(unit_id=agents[0].unit_id)
    services.pay_bonus(unit_id=agents[0].unit_id, amount="0.10", reason="good")
    services.reject_unit(unit_id=agents[1].unit_id, feedback="Not the task asked")
    return run


def read_everything(task_name: str) -> tuple[int, list[str], int]:
    """Every unit's dict of the task, as a notebook reads them, and through
    iter_results: (queries, the writes among them, dicts read)."""
    browser = DataBrowser()
    with CaptureQueriesContext(connection) as queries:
        rows = [
            browser.get_data_from_unit(unit)
            for unit in browser.get_units_for_task_name(task_name)
        ]
        rows += list(browser.iter_results(task_name=task_name))
    return len(queries), writes(queries), len(rows)


def test_reading_3_or_30_units_takes_the_same_queries_and_writes_nothing(client):
    decided_run(client, "small-task", 3)
    decided_run(client, "large-task", 30)

    small_queries, small_writes, small_rows = read_everything("small-task")
    large_queries, large_writes, large_rows = read_everything("large-task")

    assert (small_rows, large_rows) == (6, 60)
    assert small_queries == large_queries
    assert small_writes == large_writes == []


def test_a_unit_read_elsewhere_takes_a_fixed_number_of_queries(
    client, django_assert_max_num_queries
):
    run = decided_run(client, "small-task", 3)
    unit = Unit.objects.filter(run=run).first()

    with django_assert_max_num_queries(4):
        DataBrowser().get_submissions_from_unit(unit)


def test_iter_results_reads_a_chunk_at_a_time_and_yields_every_unit(client):
    run = decided_run(client, "chunked-task", 5)
    browser = DataBrowser()

    chunked = [row["unit_id"] for row in browser.iter_results(run.pk, chunk_size=2)]

    assert chunked == list(run.units.order_by("pk").values_list("pk", flat=True))
