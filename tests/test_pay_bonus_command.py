"""`manage.py pay_bonus`: a bonus paid once with its reason; bad amounts, replays
and reviewers without the permission refused with nothing written."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app.models import Payment, PaymentKind, PaymentState, Unit
from tests.command_calls import run, run_from_terminal, run_json
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for, submit_task

pytestmark = pytest.mark.django_db


def submitted_unit(worker="alice") -> Unit:
    task_run = TaskRunFactory(units=1, task_reward="0.50")
    client = APIClient()
    submit_task(client, task_run, agent_id_for(client, task_run, worker=worker), {})
    return Unit.objects.get(run=task_run)


def bonus(unit, amount="0.50", reason="thorough answers", *extra: str) -> list[str]:
    return ["--unit", str(unit.pk), "--amount", amount, "--reason", reason, *extra]


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        call_command("pay_bonus", *args, stdout=io.StringIO())
    assert caught.value.returncode == 1
    return caught.value


def test_a_bonus_is_paid_to_the_worker_with_its_reason(
    django_capture_on_commit_callbacks,
):
    unit = submitted_unit()

    with django_capture_on_commit_callbacks(execute=True):
        text = run("pay_bonus", *bonus(unit))

    payment = Payment.objects.get(kind=PaymentKind.BONUS)
    assert (payment.unit_id, payment.amount, payment.reason, payment.state) == (
        unit.pk,
        Decimal("0.50"),
        "thorough answers",
        PaymentState.PAID,
    )
    review = WorkerReview.objects.get()
    assert (review.action, review.amount, review.worker.worker_name) == (
        ReviewAction.BONUS,
        Decimal("0.50"),
        "alice",
    )
    assert f"Paid a bonus of $0.50 to alice for unit {unit.pk}" in text


def test_json_prints_the_bonus_as_one_object():
    unit = submitted_unit()

    report = run_json("pay_bonus", *bonus(unit, "1.25"))

    review = WorkerReview.objects.get()
    assert report == {
        "action": "bonus",
        "unit_id": unit.pk,
        "agent_id": review.agent_id,
        "worker": "alice",
        "review_id": review.pk,
        "late": False,
        "amount": "1.25",
    }


def test_running_the_same_bonus_twice_pays_once():
    unit = submitted_unit()
    run("pay_bonus", *bonus(unit))

    error = refused(*bonus(unit))

    assert "was already paid by the operator" in str(error)
    assert "refused as a replay" in str(error)
    assert Payment.objects.filter(kind=PaymentKind.BONUS).count() == 1
    assert WorkerReview.objects.count() == 1


def test_a_second_bonus_for_another_reason_is_paid():
    unit = submitted_unit()
    run("pay_bonus", *bonus(unit))

    run("pay_bonus", *bonus(unit, "0.50", "second batch too"))

    assert Payment.objects.filter(kind=PaymentKind.BONUS).count() == 2


@pytest.mark.parametrize(
    "amount, message",
    [
        ("-1", "must be more than 0 (got -1)"),
        ("0", "must be more than 0 (got 0)"),
        ("NaN", "must be a finite number (got NaN)"),
        ("inf", "must be a finite number (got inf)"),
        ("lots", "is not a number"),
        ("0.005", "paid in whole cents"),
        ("1_000", "'1_000' is not a number in plain decimal digits such as 12.50"),
        ("٥", "'٥' (ARABIC-INDIC DIGIT FIVE) is not one of the digits 0-9"),
        ("1e2", "it has an exponent ('e'); write 100 instead"),
        ("1" * 40, "is too large: at most 12 digits before the '.'"),
    ],
)
def test_a_bad_amount_is_refused_and_nothing_is_written(amount, message):
    unit = submitted_unit()

    error = refused(*bonus(unit, amount))

    assert message in str(error)
    assert not Payment.objects.exists()
    assert not WorkerReview.objects.exists()


def test_a_bonus_without_a_reason_is_refused():
    unit = submitted_unit()

    error = refused(*bonus(unit, "0.50", "   "))

    assert "a bonus needs a reason" in str(error)
    assert not Payment.objects.exists()


@pytest.mark.parametrize("setup", ["unknown", "not submitted", "rejected"])
def test_a_bonus_on_a_unit_without_work_to_pay_for_is_refused(setup):
    if setup == "unknown":
        unit, message = Unit(pk=99999999), "there is no unit 99999999"
    elif setup == "not submitted":
        task_run = TaskRunFactory(units=1)
        agent_id_for(APIClient(), task_run)
        unit = Unit.objects.get(run=task_run)
        message = "has no submission to review (status assigned)"
    else:
        unit = submitted_unit()
        call_command(
            "review_run",
            "--run",
            str(unit.run_id),
            "--reject",
            str(unit.pk),
            "--feedback",
            "empty",
            stdout=io.StringIO(),
        )
        message = "was rejected: a bonus would pay for work that was refused"

    error = refused(*bonus(unit))

    assert message in str(error)
    assert not Payment.objects.filter(kind=PaymentKind.BONUS).exists()


def test_a_reviewer_without_the_permission_is_refused():
    unit = submitted_unit()
    User.objects.create_user("visitor")

    error = refused(*bonus(unit, "0.50", "thanks", "--reviewer", "visitor"))

    assert "visitor may not review units" in str(error)
    assert not Payment.objects.exists()
    assert not WorkerReview.objects.exists()


def test_a_reviewer_with_the_permission_is_named_on_the_payment():
    unit = submitted_unit()
    rita = User.objects.create_user("rita")
    rita.user_permissions.add(Permission.objects.get(codename="review_unit"))

    run("pay_bonus", *bonus(unit, "0.50", "thanks", "--reviewer", "rita"))

    assert Payment.objects.get(kind=PaymentKind.BONUS).created_by == rita
    assert WorkerReview.objects.get().created_by == rita


def test_from_the_terminal_a_replay_exits_1_saying_so_on_stderr(monkeypatch, capsys):
    unit = submitted_unit()
    first = run_from_terminal(
        monkeypatch, capsys, "tasks_app", "pay_bonus", *bonus(unit)
    )

    status, out, err = run_from_terminal(
        monkeypatch, capsys, "tasks_app", "pay_bonus", *bonus(unit)
    )

    assert first[0] == 0
    assert status == 1
    assert out == ""
    assert "CommandError:" in err and "replay" in err
    assert Payment.objects.filter(kind=PaymentKind.BONUS).count() == 1


def test_a_negative_amount_from_the_terminal_is_read_as_an_amount(monkeypatch, capsys):
    unit = submitted_unit()

    status, _, err = run_from_terminal(
        monkeypatch, capsys, "tasks_app", "pay_bonus", *bonus(unit, "-0.50")
    )

    assert status == 1
    assert "must be more than 0 (got -0.50)" in err
    assert not Payment.objects.exists()


def test_a_bonus_past_the_runs_budget_is_refused_with_the_figures():
    unit = submitted_unit()  # a reward of $0.50 committed
    task_run = unit.run
    task_run.resolved_config = {"mephisto": {"task": {"budget": 1.0}}}
    task_run.save(update_fields=["resolved_config"])

    error = refused(*bonus(unit, "0.60"))

    assert f"would take run {task_run.pk} to $1.10, past its budget of $1.00" in str(
        error
    )
    assert "nothing was paid" in str(error)
    assert not Payment.objects.exists()
    assert not WorkerReview.objects.exists()


# --- a bonus far above the reward -------------------------------------------------


def test_a_bonus_above_ten_times_the_reward_is_refused_without_yes():
    unit = submitted_unit()  # reward $0.50

    error = refused(*bonus(unit, "1000"))

    assert str(error) == (
        f"unit {unit.pk}: a bonus of $1000.00 is 2000 times the unit's reward of "
        "$0.50, more than 10 times; check the amount, and confirm it to pay it; "
        "nothing was paid (--yes confirms it)"
    )
    assert not Payment.objects.exists()
    assert not WorkerReview.objects.exists()


def test_with_yes_a_bonus_above_ten_times_the_reward_is_paid_once():
    unit = submitted_unit()

    run("pay_bonus", *bonus(unit, "25.00", "found a real bug", "--yes"))
    replay = refused(*bonus(unit, "25.00", "found a real bug", "--yes"))

    assert "refused as a replay" in str(replay)

    [payment] = Payment.objects.filter(kind=PaymentKind.BONUS)
    assert payment.amount == Decimal("25.00")


def test_a_bonus_of_exactly_ten_times_the_reward_needs_no_yes():
    unit = submitted_unit()

    run("pay_bonus", *bonus(unit, "5.00"))

    assert Payment.objects.get(kind=PaymentKind.BONUS).amount == Decimal("5.00")
