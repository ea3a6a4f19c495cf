"""`manage.py review_run`: the scripted forms, the interactive review on stdin, the
allowlist grant to the workers approved, and every refusal changing nothing."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from qualifications_app.models import GrantedQualification, ReviewAction, WorkerReview
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    PaymentKind,
    PaymentState,
    Unit,
    UnitStatus,
    Worker,
)
from tests.command_calls import run, run_from_terminal, run_json
from tests.factories import (
    AgentFactory,
    QualificationFactory,
    TaskRunFactory,
    WorkerFactory,
)
from tests.worker_calls import agent_id_for, submit_task

pytestmark = pytest.mark.django_db

ALLOWLIST = "pilot-allowlist"


def pilot(workers=("alice", "bob", "carol"), *, allowlist=ALLOWLIST, reward="0.50"):
    """A run whose units were each submitted by one of `workers`, in that order:
    (the run, its units by worker name)."""
    config: dict = {"mephisto": {}}
    if allowlist:
        config["allowlist_qualification"] = allowlist
    task_run = TaskRunFactory(
        units=len(workers), task_reward=reward, resolved_config=config
    )
    client = APIClient()
    for name in workers:
        agent_id = agent_id_for(client, task_run, worker=name)
        submit_task(client, task_run, agent_id, {"rating": f"{name} says good"})
    units = Unit.objects.filter(run=task_run).select_related("worker")
    return task_run, {unit.worker.worker_name: unit for unit in units}


def statuses(units) -> dict[str, tuple[str, str]]:
    """Worker name -> (unit status, agent status), read from the database."""
    return {
        name: (
            Unit.objects.get(pk=unit.pk).status,
            Agent.objects.get(unit=unit).status,
        )
        for name, unit in units.items()
    }


def user(name="rita", *permissions: str) -> User:
    person = User.objects.create_user(name, is_staff=True)
    for codename in permissions:
        person.user_permissions.add(Permission.objects.get(codename=codename))
    return person


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        call_command("review_run", *args, stdout=io.StringIO())
    assert caught.value.returncode == 1
    return caught.value


def interactive(*args: str, keys: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("review_run", *args, stdin=io.StringIO(keys), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- scripted forms ---------------------------------------------------------------


def test_approving_named_units_accepts_them_and_pays_each_reward():
    task_run, units = pilot()

    text = run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve",
        str(units["alice"].pk),
        str(units["bob"].pk),
    )

    assert statuses(units) == {
        "alice": (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
        "bob": (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
        "carol": (UnitStatus.COMPLETED, AgentStatus.COMPLETED),
    }
    rewards = Payment.objects.filter(kind=PaymentKind.REWARD)
    assert sorted(p.unit_id for p in rewards) == [units["alice"].pk, units["bob"].pk]
    assert {p.amount for p in rewards} == {Decimal("0.50")}
    reviews = WorkerReview.objects.filter(action=ReviewAction.APPROVE)
    assert [(r.worker.worker_name, r.created_by) for r in reviews.order_by("pk")] == [
        ("alice", None),
        ("bob", None),
    ]
    assert f"Approved unit {units['alice'].pk} by mock:alice, paid $0.50." in text


def test_approving_one_unit_pays_it_through_the_provider(
    django_capture_on_commit_callbacks,
):
    task_run, units = pilot(["alice"])

    with django_capture_on_commit_callbacks(execute=True):
        run(
            "review_run", "--run", str(task_run.pk), "--approve", str(units["alice"].pk)
        )

    payment = Payment.objects.get(kind=PaymentKind.REWARD)
    assert (payment.unit_id, payment.state) == (units["alice"].pk, PaymentState.PAID)


def test_approve_all_approves_every_submission_waiting_in_the_run():
    task_run, units = pilot()
    other_run, other_units = pilot(["dave"])

    report = run_json("review_run", "--run", str(task_run.pk), "--approve-all")

    assert set(statuses(units).values()) == {
        (UnitStatus.ACCEPTED, AgentStatus.APPROVED)
    }
    assert statuses(other_units)["dave"] == (UnitStatus.COMPLETED, "completed")
    assert report == {
        "run": task_run.pk,
        "action": "approve-all",
        "decided": sorted(unit.pk for unit in units.values()),
        "refused": {},
        "amount": "1.50",
        "undecided_agents": [],
        "granted": None,
    }
    assert Payment.objects.filter(kind=PaymentKind.REWARD).count() == 3


def test_approve_all_of_one_worker_leaves_the_others_waiting():
    task_run, units = pilot()

    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve-all",
        "--worker",
        "mock:bob",
    )

    assert statuses(units) == {
        "alice": (UnitStatus.COMPLETED, AgentStatus.COMPLETED),
        "bob": (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
        "carol": (UnitStatus.COMPLETED, AgentStatus.COMPLETED),
    }


def two_submissions(*, holder_late: bool):
    """A unit completed by bob, with alice's late submission beside bob's; with
    `holder_late`, bob's own is late too (he got the unit back by submitting)."""
    task_run = TaskRunFactory(units=1, task_reward="0.50")
    unit = Unit.objects.get(run=task_run)
    alice, bob = WorkerFactory(worker_name="alice"), WorkerFactory(worker_name="bob")
    Unit.objects.filter(pk=unit.pk).update(status=UnitStatus.COMPLETED, worker=bob)
    now = timezone.now()
    late = AgentFactory(
        unit=unit,
        worker=alice,
        status=AgentStatus.TIMEOUT,
        submission={"rating": "late"},
        submitted_at=now,
        is_late=True,
    )
    AgentFactory(
        unit=unit,
        worker=bob,
        status=AgentStatus.COMPLETED,
        submission={"rating": "on time"},
        submitted_at=now,
        is_late=holder_late,
    )
    return task_run, unit, late


def test_approve_all_leaves_a_late_second_submission_for_review():
    task_run, unit, late = two_submissions(holder_late=False)

    report = run_json("review_run", "--run", str(task_run.pk), "--approve-all")

    assert report["decided"] == [unit.pk]
    assert report["undecided_agents"] == [late.pk]
    assert Agent.objects.get(pk=late.pk).status == AgentStatus.TIMEOUT
    assert WorkerReview.objects.get().worker.worker_name == "bob"


def test_approve_all_lists_the_units_it_cant_decide_alone():
    task_run, unit, late = two_submissions(holder_late=True)

    report = run_json("review_run", "--run", str(task_run.pk), "--approve-all")
    text = run("review_run", "--run", str(task_run.pk), "--approve-all")

    assert report["decided"] == []
    assert "2 submissions" in report["refused"][str(unit.pk)]
    assert f"Left for review one at a time: unit {unit.pk}:" in text
    assert not WorkerReview.objects.exists()


def test_approve_all_with_nothing_waiting_says_so():
    task_run = TaskRunFactory(units=2)

    text = run("review_run", "--run", str(task_run.pk), "--approve-all")

    assert text.strip() == f"No submissions awaiting review in run {task_run.pk}."
    assert not WorkerReview.objects.exists()


def test_rejecting_with_feedback_refuses_the_work_unpaid(
    django_capture_on_commit_callbacks,
):
    task_run, units = pilot()

    with django_capture_on_commit_callbacks(execute=True):
        report = run_json(
            "review_run",
            "--run",
            str(task_run.pk),
            "--reject",
            str(units["carol"].pk),
            "--feedback",
            "The answer is empty",
        )

    assert statuses(units)["carol"] == (UnitStatus.REJECTED, AgentStatus.REJECTED)
    review = WorkerReview.objects.get(action=ReviewAction.REJECT)
    assert (review.unit_id, review.reason) == (units["carol"].pk, "The answer is empty")
    assert not Payment.objects.exists()
    assert report["decided"] == [units["carol"].pk]
    assert report["amount"] == "0"


def test_soft_rejecting_pays_the_reward_and_stays_out_of_the_approval_rate():
    task_run, units = pilot()

    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--soft-reject",
        str(units["alice"].pk),
        str(units["bob"].pk),
        "--feedback",
        "Too short",
    )

    assert statuses(units)["alice"] == (
        UnitStatus.SOFT_REJECTED,
        AgentStatus.SOFT_REJECTED,
    )
    assert Payment.objects.filter(kind=PaymentKind.REWARD).count() == 2
    assert set(
        WorkerReview.objects.filter(action=ReviewAction.SOFT_REJECT).values_list(
            "reason", flat=True
        )
    ) == {"Too short"}


def test_a_named_reviewer_is_recorded_on_the_decision():
    task_run, units = pilot(["alice"])
    rita = user("rita", "review_unit")

    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve",
        str(units["alice"].pk),
        "--reviewer",
        "rita",
    )

    assert WorkerReview.objects.get().created_by == rita


# --- refusals: each says why, and nothing is written -------------------------------


def test_reject_without_feedback_is_refused_and_nothing_is_written():
    task_run, units = pilot()

    error = refused("--run", str(task_run.pk), "--reject", str(units["bob"].pk))
    blank = refused(
        "--run", str(task_run.pk), "--reject", str(units["bob"].pk), "--feedback", " "
    )

    assert "--reject needs --feedback TEXT" in str(error)
    assert "--reject needs --feedback TEXT" in str(blank)
    assert statuses(units)["bob"] == (UnitStatus.COMPLETED, AgentStatus.COMPLETED)
    assert not WorkerReview.objects.exists()


@pytest.mark.parametrize("form", ["--approve", "--reject", "--soft-reject"])
def test_one_unknown_unit_among_named_ones_changes_nothing(form):
    task_run, units = pilot()
    feedback = ["--feedback", "why"] if form != "--approve" else []

    error = refused(
        "--run",
        str(task_run.pk),
        form,
        str(units["alice"].pk),
        str(units["bob"].pk),
        "99999999",
        *feedback,
    )

    assert f"there is no unit 99999999 in run {task_run.pk}" in str(error)
    assert set(statuses(units).values()) == {
        (UnitStatus.COMPLETED, AgentStatus.COMPLETED)
    }
    assert not WorkerReview.objects.exists()
    assert not Payment.objects.exists()


def test_a_unit_of_another_run_is_refused():
    task_run, _ = pilot(["alice"])
    _, other_units = pilot(["bob"])

    error = refused("--run", str(task_run.pk), "--approve", str(other_units["bob"].pk))

    assert f"there is no unit {other_units['bob'].pk} in run {task_run.pk}" in str(
        error
    )
    assert not WorkerReview.objects.exists()


def test_a_decision_on_a_unit_that_isnt_completed_is_refused():
    task_run = TaskRunFactory(units=1)
    agent_id_for(APIClient(), task_run, worker="bob")  # holds it, not submitted
    held = Unit.objects.get(run=task_run)

    error = refused("--run", str(task_run.pk), "--approve", str(held.pk))

    assert f"unit {held.pk} has no submission to review (status assigned)" in str(error)
    assert Unit.objects.get(pk=held.pk).status == UnitStatus.ASSIGNED
    assert not WorkerReview.objects.exists()


def test_several_named_units_one_not_completed_changes_nothing():
    task_run = TaskRunFactory(units=2, task_reward="0.50")
    client = APIClient()
    submit_task(
        client, task_run, agent_id_for(client, task_run, worker="alice"), {"r": 1}
    )
    agent_id_for(client, task_run, worker="bob")  # holds the second, unsubmitted
    done, held = Unit.objects.filter(run=task_run).order_by("pk")

    error = refused("--run", str(task_run.pk), "--approve", str(done.pk), str(held.pk))

    assert "nothing was changed" in str(error)
    assert f"unit {held.pk} has no submission to review (status assigned)" in str(error)
    assert Unit.objects.get(pk=done.pk).status == UnitStatus.COMPLETED
    assert not WorkerReview.objects.exists()
    assert not Payment.objects.exists()


def test_a_unit_already_decided_is_refused_with_who_decided():
    task_run, units = pilot(["alice"])
    run("review_run", "--run", str(task_run.pk), "--approve", str(units["alice"].pk))

    error = refused(
        "--run",
        str(task_run.pk),
        "--reject",
        str(units["alice"].pk),
        "--feedback",
        "changed my mind",
    )

    assert "was already approved by the operator" in str(error)
    assert WorkerReview.objects.count() == 1
    assert statuses(units)["alice"] == (UnitStatus.ACCEPTED, AgentStatus.APPROVED)


def test_a_reviewer_without_the_permission_is_refused_and_nothing_is_written():
    task_run, units = pilot()
    user("visitor")

    error = refused("--run", str(task_run.pk), "--approve-all", "--reviewer", "visitor")

    assert "visitor may not review units (needs the tasks_app.review_unit" in str(error)
    assert set(statuses(units).values()) == {
        (UnitStatus.COMPLETED, AgentStatus.COMPLETED)
    }
    assert not WorkerReview.objects.exists()
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--reviewer", "nobody", "--approve-all"], "there is no user 'nobody'"),
        (["--worker", "mock:ghost", "--approve-all"], "unknown worker mock:ghost"),
        (["--worker", "ghost", "--approve-all"], "is not PROVIDER:ID"),
        (["--approve", "1", "--feedback", "x"], "--feedback goes with --reject"),
        (["--approve", "1", "--worker", "mock:alice"], "--worker goes with"),
        (["--reject", "1", "--feedback", "x", "--grant-allowlist"], "approves nobody"),
        (
            ["--approve-all", "--grant-allowlist", "--grant", ALLOWLIST],
            "not both",
        ),
    ],
)
def test_flags_that_dont_go_together_or_name_nobody_are_refused(args, message):
    task_run, units = pilot()
    QualificationFactory(name=ALLOWLIST)

    error = refused("--run", str(task_run.pk), *args)

    assert message in str(error)
    assert not WorkerReview.objects.exists()
    assert not GrantedQualification.objects.exists()


def test_an_unknown_run_is_refused():
    error = refused("--run", "99999999", "--approve-all")

    assert str(error) == "there is no task run 99999999"


def test_decision_flags_are_exclusive():
    task_run, units = pilot(["alice"])

    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command(
            "review_run",
            "--run",
            str(task_run.pk),
            "--approve-all",
            "--soft-reject",
            str(units["alice"].pk),
        )


def test_from_the_terminal_a_refusal_exits_1_with_the_reason_on_stderr(
    monkeypatch, capsys
):
    task_run, units = pilot(["alice"])

    status, out, err = run_from_terminal(
        monkeypatch,
        capsys,
        "tasks_app",
        "review_run",
        "--run",
        str(task_run.pk),
        "--reject",
        str(units["alice"].pk),
    )

    assert status == 1
    assert out == ""
    assert "CommandError: --reject needs --feedback TEXT" in err
    assert not WorkerReview.objects.exists()


# --- pilot -> allowlist -----------------------------------------------------------


def test_approve_all_with_grant_allowlist_puts_the_approved_workers_on_it():
    task_run, units = pilot()
    QualificationFactory(name=ALLOWLIST)
    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--reject",
        str(units["carol"].pk),
        "--feedback",
        "spam",
    )

    report = run_json(
        "review_run", "--run", str(task_run.pk), "--approve-all", "--grant-allowlist"
    )

    assert report["granted"] == {"qualification": ALLOWLIST, "workers": 2}
    holders = GrantedQualification.objects.filter(qualification__name=ALLOWLIST)
    assert sorted(g.worker.worker_name for g in holders) == ["alice", "bob"]
    assert {g.value for g in holders} == {1}
    audit = WorkerReview.objects.filter(action=ReviewAction.GRANT).order_by("pk")
    assert [(r.worker.worker_name, r.unit_id) for r in audit] == [
        ("alice", units["alice"].pk),
        ("bob", units["bob"].pk),
    ]
    assert all(f"run {task_run.pk}" in r.reason for r in audit)


def test_granting_names_only_the_workers_approved_now():
    task_run, units = pilot()
    QualificationFactory(name=ALLOWLIST)
    run("review_run", "--run", str(task_run.pk), "--approve", str(units["alice"].pk))

    text = run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve",
        str(units["bob"].pk),
        "--grant-allowlist",
    )

    assert "Granted 'pilot-allowlist' to 1 approved worker(s)." in text
    assert list(
        GrantedQualification.objects.values_list("worker__worker_name", flat=True)
    ) == ["bob"]


def test_grant_names_another_existing_qualification():
    task_run, units = pilot(["alice"], allowlist=None)
    QualificationFactory(name="good-raters")

    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve",
        str(units["alice"].pk),
        "--grant",
        "good-raters",
    )

    grant = GrantedQualification.objects.get()
    assert (grant.worker.worker_name, grant.qualification.name) == (
        "alice",
        "good-raters",
    )


def test_grant_allowlist_on_a_run_without_one_is_refused_before_any_decision():
    task_run, units = pilot(allowlist=None)

    error = refused("--run", str(task_run.pk), "--approve-all", "--grant-allowlist")

    assert "has no allowlist qualification" in str(error)
    assert "--grant NAME" in str(error)
    assert set(statuses(units).values()) == {
        (UnitStatus.COMPLETED, AgentStatus.COMPLETED)
    }
    assert not WorkerReview.objects.exists()


def test_granting_a_qualification_nobody_created_is_refused_before_any_decision():
    task_run, units = pilot()

    error = refused("--run", str(task_run.pk), "--approve-all", "--grant-allowlist")

    assert "unknown qualification 'pilot-allowlist'" in str(error)
    assert "manage.py qualifications create pilot-allowlist" in str(error)
    assert not WorkerReview.objects.exists()
    assert not GrantedQualification.objects.exists()


def test_a_reviewer_who_may_review_but_not_grant_is_refused():
    task_run, units = pilot()
    QualificationFactory(name=ALLOWLIST)
    user("rita", "review_unit")

    error = refused(
        "--run",
        str(task_run.pk),
        "--approve-all",
        "--grant-allowlist",
        "--reviewer",
        "rita",
    )

    assert "rita may not grant qualifications" in str(error)
    assert not WorkerReview.objects.exists()


def test_a_reviewer_with_both_permissions_approves_and_grants_in_their_name():
    task_run, units = pilot(["alice"])
    QualificationFactory(name=ALLOWLIST)
    rita = user("rita", "review_unit", "add_grantedqualification")

    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve-all",
        "--grant-allowlist",
        "--reviewer",
        "rita",
    )

    assert {r.action: r.created_by for r in WorkerReview.objects.all()} == {
        ReviewAction.APPROVE: rita,
        ReviewAction.GRANT: rita,
    }


# --- interactive ------------------------------------------------------------------


def test_interactive_review_decides_one_submission_at_a_time_from_stdin():
    task_run, units = pilot()
    QualificationFactory(name=ALLOWLIST)
    keys = "\n".join(
        [
            "a",  # alice: approve, on to bob
            "r",  # bob: reject ...
            "",  # ... without feedback: refused, still bob
            "r",
            "Empty answer",  # bob rejected, on to carol
            "b",
            "0.25",
            "Careful work",  # carol: a bonus, still carol
            "s",
            "Too short",  # carol soft-rejected
            "g",  # grant the allowlist to alice
            "q",
        ]
    )

    out, _ = interactive("--run", str(task_run.pk), keys=keys + "\n")

    assert statuses(units) == {
        "alice": (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
        "bob": (UnitStatus.REJECTED, AgentStatus.REJECTED),
        "carol": (UnitStatus.SOFT_REJECTED, AgentStatus.SOFT_REJECTED),
    }
    assert WorkerReview.objects.get(action=ReviewAction.REJECT).reason == (
        "Empty answer"
    )
    bonus = Payment.objects.get(kind=PaymentKind.BONUS)
    assert (bonus.unit_id, bonus.amount, bonus.reason) == (
        units["carol"].pk,
        Decimal("0.25"),
        "Careful work",
    )
    assert list(
        GrantedQualification.objects.values_list("worker__worker_name", flat=True)
    ) == ["alice"]
    assert "Refused: unit" in out and "needs feedback" in out
    assert "Granted 'pilot-allowlist' to 1 approved worker(s)" in out
    assert "Done: 3 of 3 submission(s) decided" in out


def test_interactive_review_shows_inputs_submission_worker_and_standing():
    task_run, units = pilot(["alice"])
    QualificationFactory(name="english")
    GrantedQualification.objects.create(
        worker=units["alice"].worker,
        qualification=QualificationFactory(name="english"),
        value=4,
    )

    out, _ = interactive("--run", str(task_run.pk), keys="q\n")

    assert f"Submission 1 of 1: unit {units['alice'].pk}" in out
    assert "Worker: mock:alice" in out
    assert "no reviewed units yet; holds english=4" in out
    assert '"text": "row 0"' in out
    assert '"rating": "alice says good"' in out
    assert "Status: unit completed, agent completed" in out
    assert not WorkerReview.objects.exists()


def test_interactive_review_flags_a_late_submission():
    task_run = TaskRunFactory(units=1)
    client = APIClient()
    agent_id = agent_id_for(client, task_run)
    client.post(
        f"/return_unit?task_run_id={task_run.pk}", {"USED_AGENT_ID": agent_id}, "json"
    )
    submit_task(client, task_run, agent_id, {"rating": "late but good"})

    out, _ = interactive("--run", str(task_run.pk), keys="a\n")

    assert "LATE (submitted after its time ran out)" in out
    assert Agent.objects.get().status == AgentStatus.APPROVED


def test_interactive_next_previous_and_the_end_of_input():
    task_run, units = pilot(["alice", "bob"])

    # n to bob, p back to alice, p again (the first), approve alice; then the
    # input ends, which quits.
    out, _ = interactive("--run", str(task_run.pk), keys="n\np\np\na\n")

    assert "That is the first submission." in out
    assert out.count(f"unit {units['alice'].pk} (assignment") == 2
    assert statuses(units) == {
        "alice": (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
        "bob": (UnitStatus.COMPLETED, AgentStatus.COMPLETED),
    }
    assert "Done: 1 of 2 submission(s) decided (approved 1); 1 left undecided." in out


def test_interactive_review_of_a_worker_and_with_nothing_to_review():
    task_run, units = pilot(["alice", "bob"])

    out, _ = interactive(
        "--run", str(task_run.pk), "--worker", "mock:bob", keys="a\nq\n"
    )
    empty, _ = interactive("--run", str(TaskRunFactory(units=1).pk), keys="a\n")

    assert "1 submission(s) awaiting review" in out
    assert statuses(units)["alice"] == (UnitStatus.COMPLETED, AgentStatus.COMPLETED)
    assert statuses(units)["bob"] == (UnitStatus.ACCEPTED, AgentStatus.APPROVED)
    assert "No submissions awaiting review in run" in empty


def test_interactive_grant_on_a_run_without_an_allowlist_is_refused():
    task_run, units = pilot(["alice"], allowlist=None)

    out, _ = interactive("--run", str(task_run.pk), keys="a\ng\nq\n")

    assert "Refused: run" in out and "has no allowlist qualification" in out
    assert statuses(units)["alice"] == (UnitStatus.ACCEPTED, AgentStatus.APPROVED)
    assert not GrantedQualification.objects.exists()


def test_interactive_with_grant_allowlist_grants_on_quitting():
    task_run, units = pilot(["alice", "bob"])
    QualificationFactory(name=ALLOWLIST)

    interactive("--run", str(task_run.pk), "--grant-allowlist", keys="a\nn\nq\n")

    assert list(
        GrantedQualification.objects.values_list("worker__worker_name", flat=True)
    ) == ["alice"]


def test_interactive_bad_bonus_is_refused_and_nothing_is_paid():
    task_run, units = pilot(["alice"])

    out, _ = interactive(
        "--run",
        str(task_run.pk),
        keys="b\n-1\nthanks\nb\nNaN\nthanks\nb\n0\nthanks\nq\n",
    )

    assert "must be more than 0 (got -1)" in out
    assert "must be a finite number (got NaN)" in out
    assert "must be more than 0 (got 0)" in out
    assert not Payment.objects.exists()
    assert not WorkerReview.objects.exists()


def test_interactive_with_json_prints_one_object_on_stdout():
    task_run, units = pilot(["alice", "bob"])

    out, err = interactive("--run", str(task_run.pk), "--json", keys="a\nq\n")

    report = json.loads(out)
    assert report["run"] == task_run.pk
    assert report["undecided"] == 1
    assert report["granted"] == []
    [decision] = report["decisions"]
    assert decision["action"] == "approve"
    assert decision["unit_id"] == units["alice"].pk
    assert decision["worker"] == "alice"
    assert decision["amount"] == "0.50"
    assert "Submission 1 of 2" in err


def test_interactive_block_blocks_the_worker_and_leaves_the_unit_to_decide():
    task_run, units = pilot(["alice"])

    out, _ = interactive(
        "--run",
        str(task_run.pk),
        "--json",
        keys="x\n\nx\ncopy-paste answers\nx\nagain\nq\n",
    )

    report = json.loads(out)
    assert report["blocked"] == ["mock:alice"]
    assert report["undecided"] == 1
    assert Worker.objects.get(worker_name="alice").is_blocked
    assert WorkerReview.objects.get(action="block").reason == "copy-paste answers"
    assert not Payment.objects.exists()


def test_interactive_block_says_what_it_did_and_refuses_no_reason():
    task_run, units = pilot(["alice"])

    out, _ = interactive("--run", str(task_run.pk), keys="x\n \nx\nspam\nx\nspam\nq\n")

    assert "blocking a worker needs a reason" in out
    assert (
        "Blocked mock:alice: they get no more units, and their provider is told. "
        f"Unit {units['alice'].pk} is still to be decided." in out
    )
    assert "mock:alice was already blocked." in out
    assert WorkerReview.objects.filter(action="block").count() == 1
