"""A run's progress counts its data units only: screening and gold units are
left out of run_status, the dashboard, list_runs and the runs list, so a run
with them shows the same progress as without them."""

from __future__ import annotations

import re

import pytest

from tasks_app import selectors
from tasks_app.models import TaskRun, UnitStatus
from tasks_app.selectors import stats as run_stats
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.command_calls import run, run_json
from tests.factories import WorkerFactory
from tests.quality_units import gold_run, quality_unit, screening_run
from tests.run_figures import done_unit

pytestmark = pytest.mark.django_db


def with_data_units(task_run: TaskRun) -> TaskRun:
    """Four data units: two approved, one rejected (alice's), one open."""
    alice = WorkerFactory()
    done_unit(task_run, alice, UnitStatus.ACCEPTED)
    done_unit(task_run, alice, UnitStatus.ACCEPTED)
    done_unit(task_run, alice, UnitStatus.REJECTED)
    done_unit(task_run, WorkerFactory(), UnitStatus.ASSIGNED)
    return TaskRun.objects.select_related("task").get(pk=task_run.pk)


def with_quality_units(task_run: TaskRun, kind: str) -> TaskRun:
    """`kind` units in every status that counts: approved, rejected, awaiting
    review, held and open."""
    for status in (
        UnitStatus.ACCEPTED,
        UnitStatus.REJECTED,
        UnitStatus.COMPLETED,
        UnitStatus.ASSIGNED,
    ):
        quality_unit(task_run, kind, worker=WorkerFactory(), status=status)
    quality_unit(task_run, kind, status=UnitStatus.LAUNCHED)
    return task_run


@pytest.fixture(params=["screening", "gold"])
def runs(request) -> tuple[TaskRun, TaskRun]:
    """Two runs with the same data units, the second with quality units too."""
    make = screening_run if request.param == "screening" else gold_run
    tested = with_quality_units(with_data_units(make()), request.param)
    return with_data_units(make()), tested


def test_units_by_status_and_the_approval_rate_leave_quality_units_out(runs):
    plain, tested = runs

    without, with_them = (run_stats.run_stats(run=r) for r in (plain, tested))

    assert selectors.unit_counts(run=tested) == selectors.unit_counts(run=plain)
    assert (
        with_them.units_by_status
        == without.units_by_status
        == {
            "assigned": 1,
            "accepted": 2,
            "rejected": 1,
        }
    )
    assert (with_them.units, with_them.submitted) == (4, 3)
    assert with_them.approval_rate == without.approval_rate == pytest.approx(2 / 3)


def test_run_status_shows_the_same_progress_with_or_without_quality_units(runs):
    plain, tested = runs

    texts = [run("run_status", "--run", str(r.pk)) for r in (plain, tested)]
    data = [run_json("run_status", "--run", str(r.pk)) for r in (plain, tested)]

    for text in texts:
        assert "Units:         4" in text
        assert "  accepted             2   50.0%" in text
        assert "Approval rate: 66.7% (2 approved of 3 reviewed)" in text
    progress = ["units", "units_by_status", "submitted", "reviewed", "approval_rate"]
    assert {k: data[1][k] for k in progress} == {k: data[0][k] for k in progress}


def test_quality_submissions_still_await_review(runs):
    plain, tested = runs

    without, with_them = (run_stats.run_stats(run=r) for r in (plain, tested))

    # Quality units are reviewed and paid like any other.
    assert (without.awaiting_review, with_them.awaiting_review) == (0, 1)


def test_the_dashboards_progress_bar_leaves_quality_units_out(admin_client, runs):
    pages = [
        admin_client.get(f"/admin/tasks_app/taskrun/{r.pk}/change/").content.decode()
        for r in runs
    ]

    for page in pages:
        assert 'Progress by status <span class="rd-quiet">(4 units)' in page
        rows = dict(re.findall(r'<tr data-status="(\w+)">.*?rd-num">(\d+)<', page))
        assert rows == {"accepted": "2", "rejected": "1", "assigned": "1"}


def test_list_runs_shows_the_same_progress_with_or_without_quality_units(runs):
    plain, tested = runs

    listed = {row["run_id"]: row for row in run_json("list_runs")["runs"]}

    for task_run in (plain, tested):
        row = listed[task_run.pk]
        assert (row["units"], row["submitted"]) == (4, 3)
    awaiting = [listed[r.pk]["awaiting_review"] for r in (plain, tested)]
    assert awaiting == [0, 1]


def test_the_runs_list_shows_the_same_progress_with_or_without_quality_units(
    admin_client, runs
):
    page = admin_client.get("/admin/tasks_app/taskrun/").content.decode()

    cells = re.findall(r'<td class="field-unit_progress">([^<]*)</td>', page)
    assert cells == ["3 / 4", "3 / 4"]
