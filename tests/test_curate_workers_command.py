"""`manage.py curate_workers`: on a run where alice and bob always answer the
truth and carol the opposite, a minimum agreement grants the allowlist to alice
and bob and skips carol, and a revoke takes it from carol alone; each grant and
revoke is audited with its figures, a dry run writes nothing, and a second run
grants nothing more."""

from __future__ import annotations

import json

import pytest
from django.core.management.base import CommandError

from qualifications_app import services as qualification_services
from qualifications_app.models import GrantedQualification, Qualification, WorkerReview
from tasks_app import services
from tasks_app.models import Worker
from tasks_app.services import curation
from tests.agreement_calls import answer_all, launched, two_truthful_one_opposite
from tests.command_calls import run, run_from_terminal
from tests.factories import QualificationFactory
from tests.quality_units import grant
from tests.threads import race

pytestmark = pytest.mark.django_db

ALLOWLIST = "allowlist"


@pytest.fixture
def rated(tmp_path):
    """Alice and bob truthful, carol opposite, on 10 rows of 3 units."""
    return two_truthful_one_opposite(tmp_path)


def curate(task_run, *flags: str) -> str:
    return run(
        "curate_workers",
        "--run",
        str(task_run.pk),
        "--field",
        "label",
        *flags,
    )


def lines_of(text: str) -> list[str]:
    """The printed lines, each with its runs of spaces (the columns) as one."""
    return [" ".join(line.split()) for line in text.splitlines()]


def curate_json(task_run, *flags: str) -> dict:
    return json.loads(curate(task_run, *flags, "--json"))


def holders(name: str = ALLOWLIST) -> list[str]:
    return sorted(
        GrantedQualification.objects.filter(qualification__name=name).values_list(
            "worker__worker_name", flat=True
        )
    )


def hold_all_three(task_run) -> None:
    qualification = QualificationFactory(name=ALLOWLIST)
    for worker in Worker.objects.filter(agents__run=task_run).distinct():
        GrantedQualification.objects.create(worker=worker, qualification=qualification)


GRANT = ("--min-agreement", "0.8", "--min-units", "5", "--grant", ALLOWLIST)
REVOKE = ("--min-agreement", "0.8", "--min-units", "5", "--revoke", ALLOWLIST)


# --- granting ---------------------------------------------------------------------


def test_granting_on_agreement_grants_the_two_truthful_workers_and_skips_carol(
    rated,
):
    printed = curate_json(rated, *GRANT)

    assert printed == {
        "dry_run": False,
        "granted": ["mock:alice", "mock:bob"],
        "revoked": [],
        "skipped": ["mock:carol"],
    }
    assert holders() == ["alice", "bob"]
    assert GrantedQualification.objects.get(worker__worker_name="alice").value == 1


def test_each_grant_is_audited_with_the_figures_it_was_made_on(rated):
    curate(rated, *GRANT)

    reviews = WorkerReview.objects.filter(qualification__name=ALLOWLIST)
    assert sorted(reviews.values_list("worker__worker_name", "action", "reason")) == [
        (
            name,
            "grant",
            f"curate_workers run {rated.pk}: agreement 1 with the majority label "
            "on 10 units of field 'label' (min 0.8, 5 units)",
        )
        for name in ("alice", "bob")
    ]


def test_granting_twice_grants_nothing_more_and_says_they_already_hold_it(rated):
    curate(rated, *GRANT)
    reviews = WorkerReview.objects.count()

    printed = curate_json(rated, *GRANT)
    text = curate(rated, *GRANT)

    assert printed["granted"] == []
    assert printed["skipped"] == ["mock:alice", "mock:bob", "mock:carol"]
    assert WorkerReview.objects.count() == reviews
    assert holders() == ["alice", "bob"]
    assert (
        "skipped mock:alice agreement 1 on 10 units: already holds 'allowlist'"
    ) in " ".join(text.split())


def test_the_text_lists_each_worker_with_the_decision_and_the_figures(rated):
    QualificationFactory(name=ALLOWLIST)

    text = curate(rated, *GRANT)

    lines = lines_of(text)
    assert "granted mock:alice agreement 1 on 10 units" in lines
    assert "granted mock:bob agreement 1 on 10 units" in lines
    assert (
        "skipped mock:carol agreement 0 on 10 units: agreement 0 is below "
        "the minimum 0.8"
    ) in lines
    assert "Granted 'allowlist' to 2 of 3 workers (1 skipped)." in lines
    assert "did not exist" not in text


def test_a_grant_to_a_missing_qualification_creates_it_and_says_so(rated):
    text = curate(rated, *GRANT)

    assert Qualification.objects.filter(name=ALLOWLIST).exists()
    assert "Qualification 'allowlist' did not exist: created by the grant." in text


def test_workers_with_too_few_units_are_skipped_whatever_their_agreement(rated):
    printed = curate_json(
        rated, "--min-agreement", "0.8", "--min-units", "11", "--grant", ALLOWLIST
    )
    text = curate(
        rated, "--min-agreement", "0.8", "--min-units", "11", "--grant", ALLOWLIST
    )

    assert printed["granted"] == []
    assert printed["skipped"] == ["mock:alice", "mock:bob", "mock:carol"]
    assert (
        "mock:alice agreement 1 on 10 units: too few units: 10 of the 11 needed"
    ) in lines_of(text)[2]
    assert holders() == []


def test_a_minimum_of_zero_grants_everyone_with_enough_units(rated):
    printed = curate_json(
        rated, "--min-agreement", "0", "--min-units", "10", "--grant", ALLOWLIST
    )

    assert printed["granted"] == ["mock:alice", "mock:bob", "mock:carol"]


def test_each_grant_is_mirrored_to_the_workers_provider(rated, monkeypatch):
    mirrored: list[tuple[str, str]] = []
    monkeypatch.setattr(
        qualification_services,
        "_mirror",
        lambda review: mirrored.append((review.worker.worker_name, review.action)),
    )

    curate(rated, *GRANT)

    assert mirrored == [("alice", "grant"), ("bob", "grant")]


def test_a_grant_that_fails_midway_leaves_nothing_written(rated, monkeypatch):
    real = curation.grant_qualification
    calls: list[str] = []

    def failing_second(**kwargs):
        calls.append(kwargs["worker"].worker_name)
        if len(calls) == 2:
            raise RuntimeError("database gone")
        return real(**kwargs)

    monkeypatch.setattr(curation, "grant_qualification", failing_second)

    with pytest.raises(RuntimeError):
        curate(rated, *GRANT)

    assert calls == ["alice", "bob"]
    assert holders() == []
    assert not WorkerReview.objects.filter(action="grant").exists()


@pytest.mark.django_db(transaction=True)
def test_two_curations_at_once_grant_each_worker_once(postgres, tmp_path):
    task_run = two_truthful_one_opposite(tmp_path)
    QualificationFactory(name=ALLOWLIST)

    def curate_now():
        return services.curate_workers(
            run_id=task_run.pk,
            field="label",
            qualification=ALLOWLIST,
            action="grant",
            min_units=5,
            min_agreement=0.8,
        ).granted

    outcomes = race([curate_now, curate_now])

    assert sorted(outcomes, key=len) == [[], ["mock:alice", "mock:bob"]], outcomes
    assert WorkerReview.objects.filter(action="grant").count() == 2
    assert holders() == ["alice", "bob"]


# --- revoking ---------------------------------------------------------------------


def test_revoking_takes_the_qualification_from_carol_alone(rated):
    hold_all_three(rated)

    printed = curate_json(rated, *REVOKE)

    assert printed == {
        "dry_run": False,
        "granted": [],
        "revoked": ["mock:carol"],
        "skipped": ["mock:alice", "mock:bob"],
    }
    assert holders() == ["alice", "bob"]
    review = WorkerReview.objects.get(action="revoke")
    assert review.worker.worker_name == "carol"
    assert review.reason == (
        f"curate_workers run {rated.pk}: agreement 0 with the majority label on "
        "10 units of field 'label' (min 0.8, 5 units)"
    )


def test_revoking_skips_those_who_meet_the_minimum_or_dont_hold_it(rated):
    QualificationFactory(name=ALLOWLIST)

    text = curate(rated, *REVOKE)

    lines = lines_of(text)
    assert (
        "skipped mock:alice agreement 1 on 10 units: agreement 1 meets the minimum 0.8"
    ) in lines
    assert (
        "skipped mock:carol agreement 0 on 10 units: does not hold 'allowlist'"
    ) in lines
    assert "Revoked 'allowlist' from 0 of 3 workers (3 skipped)." in lines
    assert not WorkerReview.objects.exists()


def test_revoking_twice_revokes_nothing_more(rated):
    hold_all_three(rated)
    curate(rated, *REVOKE)

    printed = curate_json(rated, *REVOKE)

    assert printed["revoked"] == []
    assert WorkerReview.objects.filter(action="revoke").count() == 1


# --- dry run ----------------------------------------------------------------------


def written() -> tuple[list, list, list]:
    return (
        list(WorkerReview.objects.values_list("pk", flat=True)),
        list(GrantedQualification.objects.values_list("pk", "value")),
        list(Qualification.objects.values_list("pk", flat=True)),
    )


def test_a_dry_run_grant_shows_the_plan_and_writes_nothing(rated):
    before = written()

    printed = curate_json(rated, *GRANT, "--dry-run")
    text = curate(rated, *GRANT, "--dry-run")

    assert printed == {
        "dry_run": True,
        "granted": ["mock:alice", "mock:bob"],
        "revoked": [],
        "skipped": ["mock:carol"],
    }
    assert "would grant mock:alice agreement 1 on 10 units" in lines_of(text)
    assert "nothing written" in text
    assert "the grant would create it" in text
    assert written() == before


def test_a_dry_run_revoke_shows_the_plan_and_writes_nothing(rated):
    hold_all_three(rated)
    before = written()

    printed = curate_json(rated, *REVOKE, "--dry-run")

    assert printed == {
        "dry_run": True,
        "granted": [],
        "revoked": ["mock:carol"],
        "skipped": ["mock:alice", "mock:bob"],
    }
    assert written() == before


# --- other figures ----------------------------------------------------------------


def test_dawid_skene_agreement_decides_the_same_on_this_run(rated):
    printed = curate_json(rated, *GRANT, "--method", "dawid-skene")

    assert printed["granted"] == ["mock:alice", "mock:bob"]
    review = WorkerReview.objects.filter(action="grant").first()
    assert review is not None
    assert "with the dawid-skene label" in review.reason


def test_the_level_only_changes_the_alpha_shown(tmp_path):
    numbers = launched(tmp_path, rows=6, per=2)
    answer_all(numbers, "alice", lambda row: row)
    answer_all(numbers, "bob", lambda row: row + 1)
    flags = ("--min-agreement", "0.8", "--min-units", "5", "--grant", ALLOWLIST)

    nominal = curate(numbers, *flags, "--dry-run")
    interval = curate(numbers, *flags, "--dry-run", "--level", "interval")

    assert "(nominal) over 6 rows" in lines_of(nominal)[0]
    assert "(interval) over 6 rows" in lines_of(interval)[0]
    # Answers one apart: a disagreement nominally, close on an interval scale.
    assert alpha(interval) > 0.8 > alpha(nominal)
    assert lines_of(nominal)[2:] == lines_of(interval)[2:]


def alpha(text: str) -> float:
    return float(text.split("alpha ")[1].split()[0])


def test_an_ordinal_level_on_labels_that_arent_numbers_is_refused(rated):
    with pytest.raises(CommandError, match="ordinal alpha needs numbers.*'yes'"):
        curate(rated, *GRANT, "--level", "ordinal")


def test_a_worker_already_holding_is_skipped_with_the_value_they_hold(rated):
    grant(Worker.objects.get(worker_name="alice"), ALLOWLIST, value=3)

    printed = curate_json(rated, *GRANT)
    text = curate(rated, *GRANT, "--dry-run")

    assert printed["granted"] == ["mock:bob"]
    assert "already holds 'allowlist' (value 3)" in text
    assert GrantedQualification.objects.get(worker__worker_name="alice").value == 3


def test_help_explains_the_rules_with_examples():
    from django.core.management import load_command_class

    command = load_command_class("tasks_app", "curate_workers")

    text = " ".join(
        command.create_parser("manage.py", "curate_workers").format_help().split()
    )

    assert "manage.py curate_workers --run 12 --field label --min-agreement 0.8" in text
    assert "--dry-run" in text
    assert "already holding NAME is skipped" in text


def test_a_grant_run_from_the_terminal_exits_0(rated, monkeypatch, capsys):
    status, out, err = run_from_terminal(
        monkeypatch,
        capsys,
        "tasks_app",
        "curate_workers",
        "--run",
        str(rated.pk),
        "--field",
        "label",
        *GRANT,
        "--json",
    )

    assert (status, err) == (0, "")
    assert json.loads(out)["granted"] == ["mock:alice", "mock:bob"]
