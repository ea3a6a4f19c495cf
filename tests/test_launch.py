"""Launching a run: rows written in bulk, the Task reused, the config frozen."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from providers.models import CallStatus, ProviderCall
from qualifications_app.models import Qualification
from tasks_app import services as task_services
from tasks_app.models import Assignment, Task, TaskRun, TaskRunStatus, Unit, UnitStatus
from tasks_app.run_config import ConfigError, load_run_config
from tasks_app.services import launch_run
from tasks_app.tasks import top_up_runs

pytestmark = pytest.mark.django_db

CONFIG = """\
#@package _global_
defaults:
  - /mephisto/blueprint: static_react_task
  - /mephisto/architect: local
  - /mephisto/provider: mock
mephisto:
  blueprint:
    task_source: ${task_dir}/bundle.js
    data_jsonl: ${task_dir}/rows.jsonl
    units_per_assignment: %(per)d
  task:
    task_name: bulk-task
    task_title: Rate
    task_description: Rate a row.
    task_reward: 0.25
    max_num_concurrent_units: %(cap)d
"""


def write_task(tmp_path, *, rows: int, per: int = 1, cap: int = 0):
    (tmp_path / "bundle.js").write_text("// bundle\n")
    (tmp_path / "rows.jsonl").write_text(
        "".join(f'{{"text": "row {i}"}}\n' for i in range(rows))
    )
    path = tmp_path / "run.yaml"
    path.write_text(CONFIG % {"per": per, "cap": cap})
    return path


def test_launch_creates_task_run_assignments_and_units(tmp_path):
    config = load_run_config(write_task(tmp_path, rows=4, per=2))

    run = launch_run(config=config)

    assert run.task.task_name == "bulk-task"
    assert list(
        Assignment.objects.filter(run=run).values_list("row_index", "data")
    ) == [(i, {"text": f"row {i}"}) for i in range(4)]
    units = Unit.objects.filter(run=run).order_by("assignment__row_index", "unit_index")
    assert [(u.assignment.row_index, u.unit_index) for u in units] == [
        (0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1),
    ]  # fmt: skip
    assert {u.pay_amount for u in units} == {Decimal("0.25")}


def test_launch_stores_the_config_exactly_as_given_and_resolved(tmp_path):
    path = write_task(tmp_path, rows=1)
    config = load_run_config(path, ["mephisto.task.task_title=Rate it"])

    run = launch_run(config=config)

    run.refresh_from_db()
    assert run.config_yaml == path.read_text()
    assert run.config_overrides == ["mephisto.task.task_title=Rate it"]
    assert run.resolved_config["mephisto"]["task"]["task_title"] == "Rate it"
    assert run.resolved_config["task_dir"] == str(tmp_path)
    assert run.config_hash == config.config_hash
    assert len(run.config_hash) == 64
    assert run.task_title == "Rate it"
    assert run.task_reward == Decimal("0.25")


def test_launching_the_same_task_name_again_reuses_the_task(tmp_path):
    config = load_run_config(write_task(tmp_path, rows=2))

    first = launch_run(config=config)
    second = launch_run(config=config)

    assert first.task_id == second.task_id
    assert Task.objects.count() == 1
    assert TaskRun.objects.count() == 2
    assert Unit.objects.count() == 4


def test_launch_writes_in_bulk_with_a_bounded_number_of_queries(tmp_path):
    config = load_run_config(write_task(tmp_path, rows=3000, per=2))

    with CaptureQueriesContext(connection) as queries:
        launch_run(config=config)

    assert Unit.objects.count() == 6000
    assert len(queries) <= 25


def test_units_are_launched_by_the_provider_task_after_commit(
    tmp_path, django_capture_on_commit_callbacks
):
    config = load_run_config(write_task(tmp_path, rows=3))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = launch_run(config=config)
    assert set(Unit.objects.values_list("status", flat=True)) == {UnitStatus.CREATED}

    for callback in callbacks:
        callback()

    assert set(Unit.objects.values_list("status", flat=True)) == {UnitStatus.LAUNCHED}
    run.refresh_from_db()
    assert run.status == TaskRunStatus.RUNNING
    assert run.launched_at is not None
    call = ProviderCall.objects.get()
    assert (call.operation, call.status, call.run_id) == (
        "launch_units",
        CallStatus.SUCCEEDED,
        run.pk,
    )


def test_max_num_concurrent_units_caps_the_first_launch(
    tmp_path, django_capture_on_commit_callbacks
):
    config = load_run_config(write_task(tmp_path, rows=10, cap=4))

    with django_capture_on_commit_callbacks(execute=True):
        run = launch_run(config=config)

    statuses = list(run.units.order_by("pk").values_list("status", flat=True))
    assert statuses == [UnitStatus.LAUNCHED] * 4 + [UnitStatus.CREATED] * 6


def test_launching_units_twice_is_harmless(
    tmp_path, django_capture_on_commit_callbacks
):
    config = load_run_config(write_task(tmp_path, rows=3))
    with django_capture_on_commit_callbacks(execute=True):
        run = launch_run(config=config)

    assert task_services.launch_units(run_id=run.pk) == 0

    assert ProviderCall.objects.count() == 1
    assert run.units.filter(status=UnitStatus.LAUNCHED).count() == 3


def test_launch_creates_the_onboarding_and_block_qualifications(tmp_path):
    path = write_task(tmp_path, rows=1)
    config = load_run_config(
        path,
        [
            "mephisto.blueprint.onboarding_qualification=onboarded",
            "mephisto.blueprint.block_qualification=blocked",
        ],
    )

    launch_run(config=config)

    assert set(Qualification.objects.values_list("name", flat=True)) == {
        "onboarded",
        "onboarded-failed",
        "blocked",
    }


def test_launch_refuses_a_requirement_on_an_unknown_qualification(tmp_path):
    path = write_task(tmp_path, rows=1)
    path.write_text(
        path.read_text()
        + "    qualifications:\n"
        + "      - {qualification_name: my-allowlist, comparator: Exists}\n"
    )
    config = load_run_config(path)

    with pytest.raises(ConfigError, match="unknown qualification 'my-allowlist'"):
        launch_run(config=config)

    assert TaskRun.objects.count() == 0
    assert Task.objects.count() == 0


def test_top_up_launches_more_units_as_the_cap_frees_up(
    tmp_path, django_capture_on_commit_callbacks
):
    config = load_run_config(write_task(tmp_path, rows=10, cap=4))
    with django_capture_on_commit_callbacks(execute=True):
        run = launch_run(config=config)
    done = list(run.units.filter(status=UnitStatus.LAUNCHED).order_by("pk")[:3])
    Unit.objects.filter(pk__in=[u.pk for u in done]).update(status=UnitStatus.EXPIRED)

    assert top_up_runs() == 1

    assert run.units.filter(status=UnitStatus.LAUNCHED).count() == 4
    assert run.units.filter(status=UnitStatus.CREATED).count() == 3
    assert ProviderCall.objects.count() == 2
