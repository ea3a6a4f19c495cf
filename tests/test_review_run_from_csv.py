"""`manage.py review_run --from-csv`: the export's CSV with its Approve and Reject
columns filled in decides the rows marked, through the review services, once."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app import services
from tasks_app.exceptions import ReviewError
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    PaymentKind,
    UnitStatus,
)
from tests.command_calls import run
from tests.review_run_calls import (
    csv_row,
    decisions_written,
    from_csv,
    pilot,
    refused,
    review_csv,
    statuses,
    user,
)
from tests.test_review_run_scripted import two_submissions
from tests.worker_calls import client_fixture as client_fixture

pytestmark = pytest.mark.django_db


def test_approve_and_reject_columns_decide_their_rows_and_blank_rows_wait(tmp_path):
    task_run, units = pilot()
    path = review_csv(
        tmp_path,
        [
            csv_row(units["alice"], Approve="x"),
            csv_row(units["bob"], Reject="The rating is empty"),
            csv_row(units["carol"]),
        ],
    )

    report, error = from_csv(task_run, path)

    assert error is None
    assert statuses(units) == {
        "alice": (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
        "bob": (UnitStatus.REJECTED, AgentStatus.REJECTED),
        "carol": (UnitStatus.COMPLETED, AgentStatus.COMPLETED),
    }
    rewards = Payment.objects.filter(kind=PaymentKind.REWARD)
    assert [(p.unit_id, p.amount) for p in rewards] == [
        (units["alice"].pk, Decimal("0.50"))
    ]
    rejection = WorkerReview.objects.get(action=ReviewAction.REJECT)
    assert (rejection.unit_id, rejection.reason) == (
        units["bob"].pk,
        "The rating is empty",
    )
    assert report == {
        "run": task_run.pk,
        "file": path,
        "dry_run": False,
        "rows": 3,
        "approved": [units["alice"].pk],
        "rejected": [units["bob"].pk],
        "already_decided": [],
        "skipped": 1,
        "refused": [],
        "amount": "0.50",
    }


def test_any_text_in_approve_approves(tmp_path):
    task_run, units = pilot(["alice", "bob"])
    path = review_csv(
        tmp_path,
        [
            csv_row(units["alice"], Approve="yes"),
            csv_row(units["bob"], Approve="  ✓ "),
        ],
    )

    report, error = from_csv(task_run, path)

    assert error is None
    assert report["approved"] == [units["alice"].pk, units["bob"].pk]
    assert set(statuses(units).values()) == {
        (UnitStatus.ACCEPTED, AgentStatus.APPROVED)
    }


def test_the_same_file_twice_decides_once_and_reports_the_rows_already_decided(
    tmp_path,
):
    task_run, units = pilot()
    path = review_csv(
        tmp_path,
        [
            csv_row(units["alice"], Approve="x"),
            csv_row(units["bob"], Reject="The rating is empty"),
            csv_row(units["carol"]),
        ],
    )
    from_csv(task_run, path)
    written = decisions_written()

    report, error = from_csv(task_run, path)

    assert error is None  # exit status 0
    assert decisions_written() == written
    assert Payment.objects.filter(kind=PaymentKind.REWARD).count() == 1
    assert report["already_decided"] == [units["alice"].pk, units["bob"].pk]
    assert (report["approved"], report["rejected"], report["skipped"]) == ([], [], 1)
    assert report["amount"] == "0.00"


def test_the_text_report_lists_each_decision_with_worker_and_work_time(tmp_path):
    task_run, units = pilot(["alice", "bob"])
    path = review_csv(
        tmp_path,
        [
            csv_row(units["alice"], Approve="x"),
            csv_row(units["bob"], Reject="Too short"),
        ],
    )

    text = run("review_run", "--run", str(task_run.pk), "--from-csv", path)
    again = run("review_run", "--run", str(task_run.pk), "--from-csv", path)

    alice = Agent.objects.get(unit=units["alice"])
    assert (
        f"Approved unit {units['alice'].pk} (line 2, agent {alice.pk}) by mock:alice, "
        "work time " in text
    )
    assert "paid $0.50." in text
    assert f"Rejected unit {units['bob'].pk} (line 3, " in text
    assert '"Too short"' in text
    assert "Decided 2 submission(s); $0.50 in rewards" in text
    assert f"Already approved, left as it is: unit {units['alice'].pk}" in again
    assert "Nothing to decide." in again


def test_dry_run_says_what_it_would_do_and_writes_nothing(tmp_path):
    task_run, units = pilot()
    path = review_csv(
        tmp_path,
        [
            csv_row(units["alice"], Approve="x"),
            csv_row(units["bob"], Reject="The rating is empty"),
        ],
    )

    report, error = from_csv(task_run, path, "--dry-run")
    text = run("review_run", "--run", str(task_run.pk), "--from-csv", path, "--dry-run")

    assert error is None
    assert report["dry_run"] is True
    assert (report["approved"], report["rejected"]) == (
        [units["alice"].pk],
        [units["bob"].pk],
    )
    assert report["amount"] == "0.50"
    assert "Would approve unit" in text and "Would reject unit" in text
    assert "Dry run: nothing was written" in text
    assert decisions_written() == (0, 0, 0, 0)


def test_one_bad_row_refuses_the_file_listing_every_fault_by_line(tmp_path):
    task_run, units = pilot()
    other_run, other_units = pilot(["dave"])
    alice = Agent.objects.get(unit=units["alice"])
    path = review_csv(
        tmp_path,
        [
            csv_row(units["alice"], Approve="x"),  # line 2: fine on its own
            {"unit_id": "abc", "Approve": "x"},  # 3
            csv_row(other_units["dave"], Approve="x"),  # 4
            {"unit_id": "99999999", "Approve": "x"},  # 5
            csv_row(units["bob"], Approve="x", Reject="no"),  # 6
            csv_row(units["carol"], Reject="   "),  # 7
            csv_row(units["bob"], agent=alice),  # 8: blank, skipped
            {**csv_row(units["carol"]), "agent_id": alice.pk, "Approve": "x"},  # 9
        ],
    )

    report, error = from_csv(task_run, path)

    assert error is not None and error.returncode == 1
    assert "6 row(s) refused; nothing was written" in str(error)
    by_line = {r["row"]: r for r in report["refused"]}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 9]
    assert by_line[3]["error"] == "unit_id 'abc' is not a unit id"
    assert by_line[4]["error"] == (
        f"unit {other_units['dave'].pk} is not a unit of run {task_run.pk} "
        f"(it is of run {other_run.pk})"
    )
    assert "(there is no such unit)" in by_line[5]["error"]
    assert "both Approve and Reject are filled in" in by_line[6]["error"]
    assert "reject without text" in by_line[7]["error"]
    assert by_line[9]["error"] == (
        f"agent {alice.pk} is not unit {units['carol'].pk}'s "
        f"(it is unit {units['alice'].pk}'s)"
    )
    assert by_line[9]["unit_id"] == units["carol"].pk
    assert (report["approved"], report["rejected"]) == ([], [])
    assert decisions_written() == (0, 0, 0, 0)


def test_one_submission_marked_twice_differently_refuses_both_rows(tmp_path):
    task_run, units = pilot(["alice", "bob"])
    path = review_csv(
        tmp_path,
        [
            csv_row(units["alice"], Approve="x"),
            csv_row(units["bob"], Approve="x"),
            csv_row(units["alice"], Reject="Not good"),
            csv_row(units["bob"], Approve="yes"),  # the same decision again: fine
        ],
    )

    report, error = from_csv(task_run, path)

    assert error is not None
    assert [(r["row"], r["unit_id"]) for r in report["refused"]] == [
        (2, units["alice"].pk),
        (4, units["alice"].pk),
    ]
    assert (
        "marked on lines 2, 4 with different decisions"
        in (report["refused"][0]["error"])
    )
    assert decisions_written() == (0, 0, 0, 0)


def test_a_row_contradicting_a_recorded_decision_refuses_the_file(tmp_path):
    task_run, units = pilot(["alice", "bob"])
    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--reject",
        str(units["alice"].pk),
        "--feedback",
        "Empty",
    )
    written = decisions_written()
    path = review_csv(
        tmp_path,
        [csv_row(units["alice"], Approve="x"), csv_row(units["bob"], Approve="x")],
    )

    report, error = from_csv(task_run, path)

    assert error is not None
    (refusal,) = report["refused"]
    assert refusal["row"] == 2
    assert f"unit {units['alice'].pk}" in refusal["error"]
    assert "was already rejected, and this row asks to approve it" in refusal["error"]
    assert "--override-rejection" in refusal["error"]
    assert decisions_written() == written
    assert statuses(units)["bob"] == (UnitStatus.COMPLETED, AgentStatus.COMPLETED)


def test_rows_name_a_late_submission_and_its_holders_by_agent_id(
    tmp_path, client, time_machine
):
    task_run, unit, late = two_submissions(client, time_machine, holder_late=False)
    holder = Agent.objects.get(unit=unit, worker=unit.worker)
    path = review_csv(
        tmp_path,
        [
            csv_row(unit, agent=holder, Approve="x"),
            csv_row(unit, agent=late, Reject="Submitted after the time ran out"),
        ],
    )

    report, error = from_csv(task_run, path)

    assert error is None
    assert (report["approved"], report["rejected"]) == ([unit.pk], [unit.pk])
    holder.refresh_from_db()
    late.refresh_from_db()
    assert (holder.status, late.status) == (AgentStatus.APPROVED, AgentStatus.REJECTED)


def test_a_unit_with_two_submissions_needs_its_agent_id(tmp_path, client, time_machine):
    task_run, unit, _ = two_submissions(client, time_machine, holder_late=True)
    path = review_csv(
        tmp_path,
        [{"unit_id": unit.pk, "Approve": "x"}],
        header=("unit_id", "Approve", "Reject"),
    )

    report, error = from_csv(task_run, path)

    assert error is not None
    (refusal,) = report["refused"]
    assert f"unit {unit.pk} has 2 submissions" in refusal["error"]
    assert "agent_id column" in refusal["error"]
    assert decisions_written() == (0, 0, 0, 0)


def test_without_an_agent_id_column_the_units_one_submission_is_decided(tmp_path):
    task_run, units = pilot(["alice"])
    path = review_csv(
        tmp_path,
        [{"unit_id": units["alice"].pk, "Approve": "x"}],
        header=("unit_id", "Approve", "Reject"),
    )

    report, error = from_csv(task_run, path)

    assert error is None
    assert report["approved"] == [units["alice"].pk]


def test_a_reviewer_without_the_review_permission_is_refused(tmp_path):
    task_run, units = pilot(["alice"])
    user("rita")
    path = review_csv(tmp_path, [csv_row(units["alice"], Approve="x")])

    error = refused("--run", str(task_run.pk), "--from-csv", path, "--reviewer", "rita")

    assert "rita may not review units" in str(error)
    assert decisions_written() == (0, 0, 0, 0)


def test_a_named_reviewer_is_recorded_on_the_decisions(tmp_path):
    task_run, units = pilot(["alice"])
    rita = user("rita", "review_unit")
    path = review_csv(tmp_path, [csv_row(units["alice"], Approve="x")])

    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--from-csv",
        path,
        "--reviewer",
        "rita",
    )

    assert WorkerReview.objects.get().created_by == rita


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--dry-run", "--approve", "1"], "--dry-run goes with --from-csv"),
        (["--from-csv", "f.csv", "--grant-allowlist"], "--from-csv grants nothing"),
        (["--from-csv", "f.csv", "--feedback", "x"], "--feedback goes with --reject"),
        (["--from-csv", "f.csv", "--approve", "1"], "not allowed with argument"),
    ],
)
def test_flags_that_dont_go_with_from_csv_are_refused(flags, message):
    task_run, _ = pilot(["alice"])

    with pytest.raises(Exception) as caught:
        run("review_run", "--run", str(task_run.pk), *flags)

    assert message in str(caught.value)
    assert decisions_written() == (0, 0, 0, 0)


def test_a_file_that_is_not_there_is_refused_by_name(tmp_path):
    task_run, _ = pilot(["alice"])

    error = refused("--run", str(task_run.pk), "--from-csv", str(tmp_path / "no.csv"))

    assert f"--from-csv {tmp_path / 'no.csv'}: No such file" in str(error)


@pytest.mark.parametrize("bom", [[], ["--bom"]])
def test_the_exports_csv_filled_in_is_reviewed_from(tmp_path, bom):
    task_run, units = pilot(["alice", "bob"])
    exported = tmp_path / "results.csv"
    run("export_results", "--run", str(task_run.pk), "--output", str(exported), *bom)
    with exported.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0])[-2:] == ["Approve", "Reject"]
    for row in rows:
        worker = row["worker_id"]
        row["Approve" if worker == "alice" else "Reject"] = (
            "x" if worker == "alice" else "The rating is empty"
        )
    # Saved back as it was downloaded: with its byte-order mark, if it had one.
    encoding = "utf-8-sig" if bom else "utf-8"
    with exported.open("w", encoding=encoding, newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    report, error = from_csv(task_run, str(exported))
    again, _ = from_csv(task_run, str(exported))

    assert error is None
    assert (report["approved"], report["rejected"]) == (
        [units["alice"].pk],
        [units["bob"].pk],
    )
    assert statuses(units) == {
        "alice": (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
        "bob": (UnitStatus.REJECTED, AgentStatus.REJECTED),
    }
    assert again["already_decided"] == [units["alice"].pk, units["bob"].pk]


def test_the_exports_two_rows_of_a_unit_decide_its_two_submissions(
    tmp_path, client, time_machine
):
    task_run, unit, late = two_submissions(client, time_machine, holder_late=False)
    exported = tmp_path / "results.csv"
    run("export_results", "--run", str(task_run.pk), "--output", str(exported))
    with exported.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert sorted(row["agent_id"] for row in rows) == sorted(
        str(a.pk) for a in Agent.objects.filter(unit=unit)
    )
    for row in rows:
        if row["agent_id"] == str(late.pk):
            row["Reject"] = "Submitted after the time ran out"
        else:
            row["Approve"] = "x"
    with exported.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    report, error = from_csv(task_run, str(exported))

    assert error is None
    assert (report["approved"], report["rejected"]) == ([unit.pk], [unit.pk])
    late.refresh_from_db()
    holder = Agent.objects.get(unit=unit, worker=unit.worker)
    assert (holder.status, late.status) == (AgentStatus.APPROVED, AgentStatus.REJECTED)


@pytest.mark.parametrize("bob", [{"Approve": "x"}, {"Reject": "Empty"}])
def test_a_plan_applied_after_the_run_changed_writes_nothing_and_names_the_row(
    tmp_path, bob
):
    task_run, units = pilot(["alice", "bob"])
    path = review_csv(
        tmp_path,
        [csv_row(units["alice"], Approve="x"), csv_row(units["bob"], **bob)],
    )
    with open(path, "rb") as file:
        plan = services.plan_csv_review(
            run_id=task_run.pk, file=file, source="review.csv"
        )
    services.soft_reject_unit(unit_id=units["bob"].pk)
    written = decisions_written()

    with pytest.raises(ReviewError) as caught:
        services.apply_csv_review(plan=plan)

    assert str(caught.value).startswith("review.csv: line 3: ")
    assert f"unit {units['bob'].pk} was already soft-rejected" in str(caught.value)
    assert "Nothing in the file was applied" in str(caught.value)
    assert decisions_written() == written
    assert statuses(units)["alice"] == (UnitStatus.COMPLETED, AgentStatus.COMPLETED)
