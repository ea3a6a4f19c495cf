"""The run dashboard: a run's figures (run_stats) and its admin change page."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app import selectors, services
from tasks_app.models import TaskRun, UnitStatus
from tasks_app.selectors import stats as run_stats
from tests.factories import TaskRunFactory, WorkerFactory
from tests.run_figures import START, done_unit, known_run, many_units_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_a_runs_units_are_counted_by_status_with_the_approval_rate():
    stats = run_stats.run_stats(run=known_run())

    assert stats.units_by_status == {
        "launched": 1,
        "assigned": 1,
        "completed": 2,
        "accepted": 4,
        "rejected": 1,
        "soft_rejected": 1,
    }
    assert (stats.units, stats.submitted, stats.reviewed) == (10, 8, 5)
    # Soft-rejected units are left out of the rate: 4 of 4 + 1.
    assert stats.approval_rate == pytest.approx(0.8)


def test_money_spent_and_committed_are_set_against_the_budget():
    money = run_stats.run_stats(run=known_run()).money

    assert money.spent == Decimal("2.50")  # three rewards and a bonus paid
    assert money.pending == Decimal("0.50")
    assert money.failed == Decimal("0.75")
    # Every unit's reward but the rejected one's, decided or not, and the bonus
    # that did not fail: what the budget check counts.
    assert money.committed_rewards == Decimal("4.50")
    assert money.committed_bonuses == Decimal("1.00")
    assert money.committed == Decimal("5.50")
    assert money.budget == Decimal("10.00")
    assert money.budget_used == pytest.approx(0.55)
    assert money.budget_left == Decimal("4.50")


def test_the_committed_figure_is_the_one_the_budget_check_uses():
    run = known_run()

    committed = selectors.run_commitment(run=run, fee_rate=Decimal("0.20"))

    # The rewards carry the fee; the bonuses' fees are rows of their own.
    assert committed.rewards == Decimal("5.40")
    assert committed.total == Decimal("6.40")


def test_work_time_is_the_median_and_90th_percentile_of_submitted_minus_accepted():
    work = run_stats.run_stats(run=known_run()).work_time

    assert work.submissions == 8
    # 10, 20, ... 80 s, interpolated as percentile_cont: 45 s and 73 s.
    assert work.median == 45.0
    assert work.p90 == 73.0


def test_percentiles_interpolate_between_ranks_to_the_microsecond():
    run = TaskRunFactory()
    worker = WorkerFactory()
    for seconds in (1.000001, 2.5, 4.25):
        done_unit(run, worker, UnitStatus.COMPLETED, seconds=seconds, submitted=START)

    work = run_stats.run_stats(run=run).work_time

    assert work.median == 2.5
    assert work.p90 == pytest.approx(4.25 - 0.2 * 1.75, abs=0.001)


def test_submissions_over_time_are_bucketed_by_the_runs_span():
    timeline = run_stats.run_stats(run=known_run()).timeline

    # 70 minutes of submissions: 5-minute bars, 10:00 to 11:10, the empty ones too.
    assert timeline.bucket_seconds == 300
    assert timeline.first == START
    assert timeline.last == START + timedelta(minutes=70)
    assert len(timeline.buckets) == 15
    assert [b.submissions for b in timeline.buckets] == [1, 0] * 7 + [1]
    assert [b.late for b in timeline.buckets][-1] == 1
    assert timeline.buckets[1].start == START + timedelta(minutes=5)


@pytest.mark.parametrize(
    "span, size",
    [
        (timedelta(0), 60),
        (timedelta(minutes=46), 60),
        (timedelta(minutes=47), 300),
        (timedelta(hours=3), 300),
        (timedelta(hours=21), 1800),
        (timedelta(days=5), 3 * 3600),
        (timedelta(days=40), 86400),
        (timedelta(days=3000), 64 * 86400),
    ],
)
def test_the_bucket_size_keeps_the_chart_to_at_most_48_bars(span, size):
    last = START + span + timedelta(seconds=59)  # any time in the last minute

    assert run_stats.bucket_size(START, START + span) == size
    bars = int(last.timestamp()) // size - int(START.timestamp()) // size + 1
    assert bars <= run_stats.MAX_BUCKETS


def test_the_worker_table_lists_the_top_workers_and_counts_the_rest():
    run = known_run()

    stats = run_stats.run_stats(run=run, top_workers=1)
    everyone = run_stats.run_stats(run=run)

    (alice,) = stats.workers
    assert (alice.worker_name, alice.units, alice.approved, alice.rejected) == (
        "alice",
        5,
        3,
        1,
    )
    assert (alice.late, alice.median_seconds) == (0, 30.0)
    assert (stats.workers_total, stats.other_workers) == (2, 1)
    bob = everyone.workers[1]
    assert (bob.worker_name, bob.units, bob.approved, bob.rejected) == (
        "bob",
        4,
        1,
        0,
    )
    assert (bob.late, bob.median_seconds) == (1, 70.0)
    assert everyone.other_workers == 0


def test_the_runs_failed_provider_calls_are_counted_and_the_latest_listed():
    stats = run_stats.run_stats(run=known_run())

    assert stats.provider_failures == 2
    assert [c.error for c in stats.recent_failures] == [
        "Throttled (1)",
        "Throttled (0)",
    ]


def test_a_run_with_nothing_done_yet_has_empty_figures():
    run = TaskRunFactory(units=3)

    stats = run_stats.run_stats(run=run)

    assert stats.units_by_status == {"launched": 3}
    assert stats.approval_rate is None
    assert (stats.work_time.median, stats.work_time.p90) == (None, None)
    assert stats.timeline.buckets == []
    assert (stats.workers, stats.workers_total) == ([], 0)
    assert stats.money.budget is None
    assert stats.money.committed == Decimal("0.15")  # three open $0.05 units


def count_queries(action) -> int:
    with CaptureQueriesContext(connection) as queries:
        action()
    return len(queries)


def test_the_figures_take_the_same_few_queries_for_a_small_and_a_larger_run():
    small = many_units_run(4, 2)
    large = many_units_run(300, 40)

    counts = [
        count_queries(lambda run=run: run_stats.run_stats(run=run))
        for run in (small, large)
    ]

    assert counts[0] == counts[1] <= 10


def test_the_figures_as_json_are_plain_values():
    data = run_stats.run_stats(run=known_run()).as_dict()

    assert data["units"] == 10
    assert data["money"]["committed"] == "5.50"
    assert data["money"]["budget_used"] == pytest.approx(0.55)
    assert data["work_time"] == {"submissions": 8, "median": 45.0, "p90": 73.0}
    assert data["workers"][0]["worker_name"] == "alice"
    assert data["timeline"]["first"] == "2026-01-05T10:00:00+00:00"


@pytest.mark.parametrize(
    "seconds, words",
    [
        (None, "–"),
        (4.25, "4.2 s"),
        (185, "3 min 05 s"),
        (7800, "2 h 10 min"),
        (100_000, "1 d 3 h"),
    ],
)
def test_durations_are_written_for_people(seconds, words):
    assert run_stats.format_seconds(seconds) == words


# --- the page ----------------------------------------------------------------------


def change_page(admin_client, run: TaskRun) -> str:
    response = admin_client.get(f"/admin/tasks_app/taskrun/{run.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_runs_page_shows_its_dashboard_above_the_fields(admin_client):
    run = known_run()

    page = change_page(admin_client, run)

    dashboard = page.index('id="run-dashboard"')
    assert dashboard < page.index('name="_save"') or 'name="_save"' not in page
    assert dashboard < page.index("What workers see")
    assert "80.0%" in page  # approval rate
    assert "$2.50 spent" in page
    assert "$5.50 committed of a $10.00 budget (55.0%)" in page
    assert "45.0 s median" in page
    assert "1 min 13 s for 90%" in page
    assert "per 5 minutes" in page
    assert '<a href="/admin/tasks_app/worker/' in page and ">alice</a>" in page
    assert "Throttled (1)" in page
    assert f"/admin/tasks_app/unit/?run={run.pk}&amp;status__exact=completed" in page
    assert 'id="run-dashboard-data"' in page


def test_the_runs_page_says_when_and_why_it_ended_and_what_awaits_review(
    admin_client,
):
    run = known_run()
    services.shutdown_run(
        run_id=run.pk, reason="no submission for 600 seconds (no_submission_patience)"
    )
    run.refresh_from_db()

    page = change_page(admin_client, run)

    card = page[page.index('id="rd-run"') : page.index('id="rd-units"')]
    assert "shut_down" in card
    assert (
        f"ended {run.ended_at:%Y-%m-%d %H:%M} UTC: no submission for 600 seconds "
        "(no_submission_patience)"
    ) in card
    review = f"/admin/tasks_app/taskrun/{run.pk}/review/"
    assert f'<a href="{review}">awaiting review 2</a>' in card


def test_the_runs_page_loads_scripts_and_styles_from_this_site_only(admin_client):
    page = change_page(admin_client, known_run())

    scripts = re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", page)
    styles = re.findall(r"<link[^>]*\bhref=\"([^\"]+)\"", page)

    assert "/static/tasks_app/vendor/chart.umd.min.js" in scripts
    assert "/static/tasks_app/run_dashboard.js" in scripts
    assert "/static/tasks_app/run_dashboard.css" in styles
    outside = [url for url in scripts + styles if re.match(r"(https?:)?//", url)]
    assert outside == []


def test_the_chart_library_is_served_with_its_licence(client):
    from django.contrib.staticfiles import finders

    library = finders.find("tasks_app/vendor/chart.umd.min.js")
    licence = finders.find("tasks_app/vendor/chart.js.LICENSE.md")

    assert library and licence
    assert Path(licence).read_text().startswith("The MIT License")
    assert "sourceMappingURL" not in Path(library).read_text()


def test_the_runs_page_takes_the_same_queries_for_a_small_and_a_larger_run(
    admin_client,
):
    small = many_units_run(4, 2)
    large = many_units_run(300, 40)
    change_page(admin_client, small)  # the session and the user, once

    counts = [
        count_queries(lambda r=r: change_page(admin_client, r)) for r in (small, large)
    ]

    assert counts[0] == counts[1]


def test_the_dashboards_links_open_the_runs_units_calls_and_submissions(
    admin_client,
):
    run = known_run()
    page = change_page(admin_client, run)

    links = [
        f"/admin/tasks_app/unit/?run={run.pk}&amp;status__exact=completed",
        f"/admin/providers/providercall/?run__id__exact={run.pk}&amp;"
        "status__exact=failed",
        f"/admin/tasks_app/taskrun/{run.pk}/review/?status=all&amp;worker=",
    ]
    for link in links:
        assert link in page
    units = admin_client.get(links[0].replace("&amp;", "&"))
    calls = admin_client.get(links[1].replace("&amp;", "&"))
    assert units.status_code == calls.status_code == 200
    assert b"Throttled" not in units.content
    listed = set(
        re.findall(rb"/admin/providers/providercall/(\d+)/change/", calls.content)
    )
    assert len(listed) == 2  # the run's two failed calls, not the others


def test_a_run_without_units_shows_an_empty_dashboard(admin_client):
    run = TaskRunFactory()

    page = change_page(admin_client, run)

    assert 'id="run-dashboard"' in page
    assert "No units." in page
    assert "No submissions yet." in page
    assert "No worker has taken a unit yet." in page
    assert "no budget set" in page
    assert 'id="rd-progress-chart"' not in page
