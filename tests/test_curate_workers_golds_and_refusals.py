"""`manage.py curate_workers --min-gold-accuracy` on a gold run driven through
the worker API (a worker's units are their judged golds), and the refusals:
each says why, exits with status 1 (2 for a usage error) and writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from qualifications_app.models import GrantedQualification, Qualification, WorkerReview
from tasks_app.models import TaskRun
from tests.agreement_calls import two_truthful_one_opposite
from tests.command_calls import run, run_from_terminal
from tests.factories import TaskRunFactory
from tests.worker_calls import request_agent, submit_task

pytestmark = pytest.mark.django_db

GOLDS = {
    "use_golds": True,
    "gold_qualification_base": "gq",
    "max_gold_units": 10,
    "min_golds": 1,
    "max_incorrect_golds": 1,
    # Each gold's answer is "good" (tests/quality_hooks.py).
    "hooks": "tests.quality_hooks",
}


def take(execute, task_run: TaskRun, worker: str, visit: int, rating: str) -> None:
    """`worker` arrives and submits what they get (a gold or a data unit)."""
    client = APIClient()
    response = request_agent(client, task_run, worker, registration=f"{worker}-{visit}")
    data: dict[str, Any] = response.json()["data"]
    assert data.get("agent_id"), data
    submitted = execute(
        lambda: submit_task(client, task_run, data["agent_id"], {"rating": rating})
    )
    assert submitted.status_code == 200, submitted.content


@pytest.fixture
def gold_run(execute) -> TaskRun:
    """Dana gets her one gold right (1 of 1); eve gets hers wrong, then the next
    right (1 of 2); each then answers a data unit."""
    task_run = TaskRunFactory(
        units=3,
        allowed_concurrent=1,
        resolved_config={"mephisto": {"blueprint": GOLDS}},
    )
    take(execute, task_run, "dana", 1, "good")  # gold, right
    take(execute, task_run, "dana", 2, "good")  # data
    take(execute, task_run, "eve", 1, "bad")  # gold, wrong
    take(execute, task_run, "eve", 2, "good")  # gold, right
    take(execute, task_run, "eve", 3, "bad")  # data
    return task_run


def curate(task_run: TaskRun, *flags: str) -> str:
    return run("curate_workers", "--run", str(task_run.pk), *flags)


def test_gold_accuracy_grants_those_with_enough_judged_golds_right(gold_run):
    printed = json.loads(
        curate(
            gold_run,
            *("--field", "rating", "--min-gold-accuracy", "0.8"),
            *("--min-units", "1", "--grant", "careful", "--json"),
        )
    )

    assert printed == {
        "dry_run": False,
        "granted": ["mock:dana"],
        "revoked": [],
        "skipped": ["mock:eve"],
    }
    review = WorkerReview.objects.get(qualification__name="careful")
    assert review.reason == (
        f"curate_workers run {gold_run.pk}: gold accuracy 1 on 1 judged golds "
        "(min 0.8, 1 golds)"
    )


def test_gold_accuracy_counts_judged_golds_as_the_units(gold_run):
    text = curate(
        gold_run,
        *("--field", "rating", "--min-gold-accuracy", "0.5"),
        *("--min-units", "2", "--grant", "careful"),
    )

    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert (
        "skipped mock:dana gold accuracy 1 on 1 judged golds: too few judged "
        "golds: 1 of the 2 needed"
    ) in lines
    assert "granted mock:eve gold accuracy 0.5 on 2 judged golds" in lines


def test_gold_accuracy_revokes_from_those_below_it(gold_run):
    careful = Qualification.objects.create(name="careful")
    for name in ("dana", "eve"):
        GrantedQualification.objects.create(
            worker=gold_run.agents.filter(worker__worker_name=name).first().worker,
            qualification=careful,
        )

    printed = json.loads(
        curate(
            gold_run,
            *("--field", "rating", "--min-gold-accuracy", "0.8"),
            *("--min-units", "1", "--revoke", "careful", "--json"),
        )
    )

    assert (printed["revoked"], printed["skipped"]) == (["mock:eve"], ["mock:dana"])


# --- refusals ---------------------------------------------------------------------


@pytest.fixture
def rated(tmp_path):
    return two_truthful_one_opposite(tmp_path)


GRANT = ("--min-agreement", "0.8", "--min-units", "5", "--grant", "allowlist")


def nothing_written() -> bool:
    return not (
        WorkerReview.objects.exists()
        or GrantedQualification.objects.exists()
        or Qualification.objects.exists()
    )


def test_an_unknown_run_is_refused(monkeypatch, capsys):
    status, out, err = run_from_terminal(
        monkeypatch,
        capsys,
        "tasks_app",
        "curate_workers",
        *("--run", "999999", "--field", "label", *GRANT),
    )

    assert status == 1
    assert "there is no task run 999999" in err
    assert nothing_written()


def test_a_field_nobody_answered_is_refused_naming_the_runs_fields(rated):
    with pytest.raises(CommandError) as refused:
        curate(rated, "--field", "lable", *GRANT)

    assert str(refused.value) == (
        f"run {rated.pk} has no answers to field 'lable'; its submissions have "
        "the output fields: label"
    )
    assert nothing_written()


def test_a_run_without_submissions_is_refused_saying_so():
    empty = TaskRunFactory(units=2)

    with pytest.raises(CommandError, match="has no submissions with output fields"):
        curate(empty, "--field", "label", *GRANT)


@pytest.mark.parametrize("minimum", ["1.5", "-0.1", "nan"])
def test_a_minimum_outside_0_to_1_is_refused(rated, minimum, monkeypatch, capsys):
    status, out, err = run_from_terminal(
        monkeypatch,
        capsys,
        "tasks_app",
        "curate_workers",
        *("--run", str(rated.pk), "--field", "label", "--min-agreement", minimum),
        *("--min-units", "5", "--grant", "allowlist"),
    )

    assert status == 1
    assert "--min-agreement is a share between 0 and 1" in err
    assert nothing_written()


def test_fewer_than_one_unit_is_refused(rated, monkeypatch, capsys):
    status, out, err = run_from_terminal(
        monkeypatch,
        capsys,
        "tasks_app",
        "curate_workers",
        *("--run", str(rated.pk), "--field", "label", "--min-agreement", "0.8"),
        *("--min-units", "0", "--grant", "allowlist"),
    )

    assert status == 1
    assert "--min-units must be at least 1, not 0" in err
    assert nothing_written()


@pytest.mark.parametrize(
    "flags, complaint",
    [
        (
            ("--min-agreement", "0.8", "--grant", "a", "--revoke", "a"),
            "argument --revoke: not allowed with argument --grant",
        ),
        (
            ("--min-agreement", "0.8"),
            "one of the arguments --grant --revoke is required",
        ),
        (
            ("--min-agreement", "0.8", "--min-gold-accuracy", "0.8", "--grant", "a"),
            "argument --min-gold-accuracy: not allowed with argument --min-agreement",
        ),
        (
            ("--grant", "a"),
            "one of the arguments --min-agreement --min-gold-accuracy is required",
        ),
    ],
)
def test_both_or_neither_of_the_pairs_is_a_usage_error(
    rated, flags, complaint, monkeypatch, capsys
):
    status, out, err = run_from_terminal(
        monkeypatch,
        capsys,
        "tasks_app",
        "curate_workers",
        *("--run", str(rated.pk), "--field", "label", "--min-units", "5", *flags),
    )

    assert status == 2
    assert complaint in err
    assert nothing_written()


def test_gold_accuracy_on_a_run_without_golds_is_refused(rated):
    with pytest.raises(CommandError, match=f"run {rated.pk} gives no golds"):
        curate(
            rated,
            *("--field", "label", "--min-gold-accuracy", "0.8"),
            *("--min-units", "1", "--grant", "allowlist"),
        )
    assert nothing_written()


def test_revoking_an_unknown_qualification_is_refused(rated):
    with pytest.raises(CommandError, match="unknown qualification 'allowlist'"):
        curate(
            rated,
            *("--field", "label", "--min-agreement", "0.8"),
            *("--min-units", "5", "--revoke", "allowlist"),
        )
    assert nothing_written()
