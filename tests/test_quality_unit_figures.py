"""A screening run's verdicts and a gold run's tested workers, in run_status
(JSON and text) and on the run dashboard, in a fixed number of queries; runs
without them have no such figures."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app.models import TaskRun, UnitStatus, Worker
from tasks_app.selectors import stats as run_stats
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.command_calls import run, run_json
from tests.factories import TaskRunFactory, WorkerFactory
from tests.quality_units import (
    BLOCKED,
    GOLD_BASE,
    PASSED,
    gold_record,
    gold_run,
    grant,
    quality_unit,
    screening_run,
)
from tests.run_figures import START, done_unit

pytestmark = pytest.mark.django_db


def worker(name: str) -> Worker:
    return WorkerFactory(worker_name=name)


def screened_run() -> TaskRun:
    """A run screening with at most 10 units: alice passed, bob failed, carol
    awaits a verdict (two screening units), dave is still on his; erin passed
    on an earlier run and only did a real unit; one screening unit expired."""
    task_run = screening_run(max_units=10)
    alice, bob, carol = worker("alice"), worker("bob"), worker("carol")
    quality_unit(task_run, worker=alice, status=UnitStatus.ACCEPTED)
    grant(alice, PASSED)
    quality_unit(task_run, worker=bob, status=UnitStatus.COMPLETED)
    grant(bob, BLOCKED)
    quality_unit(task_run, worker=carol, status=UnitStatus.COMPLETED)
    quality_unit(task_run, worker=carol, status=UnitStatus.REJECTED)
    quality_unit(task_run, worker=worker("dave"), status=UnitStatus.ASSIGNED)
    erin = worker("erin")
    grant(erin, PASSED)
    done_unit(task_run, erin, UnitStatus.COMPLETED, seconds=30, submitted=START)
    quality_unit(task_run, status=UnitStatus.EXPIRED)
    return task_run


def gold_tested_run() -> TaskRun:
    """A gold run: bob (disqualified, 1 right, 1 wrong), alice (3 right), carol
    on her first gold (no record yet); dora has a record but took no gold of
    this run, and a gold of another run's is not this run's."""
    task_run = gold_run()
    alice, bob, carol, dora = (worker(n) for n in ("alice", "bob", "carol", "dora"))
    for tested in (bob, alice, alice):
        quality_unit(task_run, "gold", worker=tested)
    quality_unit(task_run, "gold", worker=carol, status=UnitStatus.ASSIGNED)
    gold_record(alice, correct=3)
    gold_record(bob, correct=1, wrong=1)
    grant(bob, f"{GOLD_BASE}-disqualified")
    gold_record(dora, correct=5)
    done_unit(task_run, dora, UnitStatus.COMPLETED, seconds=30, submitted=START)
    quality_unit(gold_run(), "gold", worker=worker("ed"))
    return task_run


# --- screening -------------------------------------------------------------------


def test_json_counts_the_screened_workers_by_verdict_and_the_screening_units():
    task_run = screened_run()

    data = run_json("run_status", "--run", str(task_run.pk))

    assert data["screening"] == {
        "passed": 1,
        "failed": 1,
        "pending": 1,  # carol, once for her two units
        "units": 5,  # dave's held one counts; the expired one does not
        "max_units": 10,
    }
    assert "golds" not in data


def test_a_run_screening_on_real_units_counts_the_workers_who_submitted_one():
    task_run = screening_run(max_units=0)
    alice, bob, carol = worker("alice"), worker("bob"), worker("carol")
    for held in (alice, bob, carol):
        done_unit(task_run, held, UnitStatus.COMPLETED, seconds=30, submitted=START)
    done_unit(task_run, worker("dave"), UnitStatus.ASSIGNED)
    grant(alice, PASSED)
    grant(bob, BLOCKED)

    data = run_json("run_status", "--run", str(task_run.pk))

    assert data["screening"] == {
        "passed": 1,
        "failed": 1,
        "pending": 1,
        "units": 0,
        "max_units": 0,
    }


def test_the_text_says_how_screening_goes():
    text = run("run_status", "--run", str(screened_run().pk))

    assert "Screening:     1 passed, 1 failed, 1 pending" in text
    assert (
        "               5 screening unit(s) made of 10 at most (not counted in the "
        "units above)"
    ) in text
    assert "Golds:" not in text


def test_the_runs_page_shows_the_screening_card(admin_client):
    task_run = screened_run()

    page = change_page(admin_client, task_run)

    card = page[page.index('id="rd-screening"') : page.index('id="rd-money"')]
    assert "1 passed" in card
    assert "1 failed · 1 pending" in card
    assert "5 of 10 screening units made" in card
    assert 'id="rd-golds"' not in page


# --- golds -----------------------------------------------------------------------


def test_json_lists_the_workers_who_took_a_gold_unit_with_their_record():
    task_run = gold_tested_run()

    data = run_json("run_status", "--run", str(task_run.pk))

    assert data["golds"] == [
        {"worker": "mock:alice", "correct": 3, "wrong": 0, "disqualified": False},
        {"worker": "mock:bob", "correct": 1, "wrong": 1, "disqualified": True},
        {"worker": "mock:carol", "correct": 0, "wrong": 0, "disqualified": False},
    ]
    assert "screening" not in data


def test_a_gold_run_nobody_was_tested_on_yet_has_an_empty_list():
    data = run_json("run_status", "--run", str(gold_run(units=2).pk))

    assert data["golds"] == []


def test_the_text_lists_the_disqualified_and_most_wrong_first_as_many_as_asked():
    task_run = gold_tested_run()

    text = run("run_status", "--run", str(task_run.pk))
    first = run("run_status", "--run", str(task_run.pk), "--workers", "1")

    assert "Golds:         3 worker(s) took gold units, 1 disqualified" in text
    table = text[text.index("Golds:") :].splitlines()[1:5]
    assert table == [
        "  worker      correct  wrong  disqualified",
        "  mock:bob          1      1  yes",
        "  mock:alice        3      0  no",
        "  mock:carol        0      0  no",
    ]
    assert "  mock:bob" in first and "mock:alice" not in first
    assert "  and 2 more (--json lists them all)" in first


def test_the_runs_page_shows_the_gold_card_and_table(admin_client):
    task_run = gold_tested_run()

    page = change_page(admin_client, task_run)

    card = page[page.index('id="rd-golds"') : page.index('id="rd-money"')]
    assert "3 tested" in card and "1 disqualified" in card
    table = page[page.index('id="rd-gold-workers"') :]
    assert table.index("mock:bob") < table.index("mock:alice")
    assert "<td>yes</td>" in table
    assert 'id="rd-screening"' not in page


# --- runs without them; queries ------------------------------------------------------


def test_a_run_without_quality_units_has_neither_key_nor_lines(admin_client):
    task_run = TaskRunFactory(units=2)

    data = run_json("run_status", "--run", str(task_run.pk))
    text = run("run_status", "--run", str(task_run.pk))
    page = change_page(admin_client, task_run)

    assert "screening" not in data and "golds" not in data
    assert "Screening:" not in text and "Golds:" not in text
    assert 'id="rd-screening"' not in page and 'id="rd-golds"' not in page


def count_queries(action) -> int:
    with CaptureQueriesContext(connection) as queries:
        action()
    return len(queries)


def screening_run_of(workers: int) -> TaskRun:
    task_run = screening_run(max_units=workers)
    for n in range(workers):
        screened = WorkerFactory()
        quality_unit(task_run, worker=screened)
        if n % 3:  # a third pending, the others passed or failed
            grant(screened, [PASSED, BLOCKED][n % 2])
    return TaskRun.objects.select_related("task").get(pk=task_run.pk)


def gold_run_of(workers: int) -> TaskRun:
    task_run = gold_run()
    for n in range(workers):
        tested = WorkerFactory()
        quality_unit(task_run, "gold", worker=tested)
        gold_record(tested, correct=n, wrong=n % 2)
    return TaskRun.objects.select_related("task").get(pk=task_run.pk)


@pytest.mark.parametrize("make", [screening_run_of, gold_run_of])
def test_the_figures_take_the_same_queries_for_few_and_many_workers(make):
    small, large = make(2), make(25)

    counts = [
        count_queries(lambda r=r: run_stats.run_stats(run=r)) for r in (small, large)
    ]

    assert counts[0] == counts[1] <= 12


@pytest.mark.parametrize("make", [screening_run_of, gold_run_of])
def test_the_runs_page_takes_the_same_queries_for_few_and_many_workers(
    admin_client, make
):
    small, large = make(2), make(25)
    change_page(admin_client, small)  # the session and the user, once

    counts = [
        count_queries(lambda r=r: change_page(admin_client, r)) for r in (small, large)
    ]

    assert counts[0] == counts[1]


def change_page(admin_client, task_run: TaskRun) -> str:
    response = admin_client.get(f"/admin/tasks_app/taskrun/{task_run.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()
