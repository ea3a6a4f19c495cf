"""What the `manage.py review_run` tests arrange and call: a pilot run whose units
were each submitted, the statuses it ends with, users, a refused command, and
review CSVs written as a spreadsheet saves them."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from qualifications_app.models import WorkerReview
from tasks_app.models import DECIDED_AGENT_STATUSES, Agent, Payment, Unit, UnitStatus
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for, submit_task

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


# --- review from a CSV ----------------------------------------------------------

# The export's columns a review CSV needs, among a few others it carries.
CSV_HEADER = (
    "unit_id",
    "task_run_id",
    "worker_id",
    "agent_id",
    "Answer.rating",
    "Approve",
    "Reject",
)


def csv_row(unit, agent=None, **cells) -> dict:
    """The export's row of `unit` (its one submission, or `agent`'s), with
    `cells` (`Approve="x"`, `Reject="why"`) filled in."""
    agent = agent or Agent.objects.get(unit=unit, submitted_at__isnull=False)
    return {
        "unit_id": unit.pk,
        "task_run_id": unit.run_id,
        "worker_id": agent.worker.worker_name,
        "agent_id": agent.pk,
        "Answer.rating": (agent.submission or {}).get("rating", ""),
        **cells,
    }


def review_csv(
    directory,
    rows,
    *,
    header=CSV_HEADER,
    name="review.csv",
    delimiter=",",
    bom=False,
) -> str:
    """Write `rows` (dicts by column, missing cells empty) as a CSV file in
    `directory`, as a spreadsheet saves it; its path."""
    path = directory / name
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as file:
        writer = csv.DictWriter(
            file, fieldnames=list(header), delimiter=delimiter, restval=""
        )
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def from_csv(run, path: str, *args: str) -> tuple[dict, CommandError | None]:
    """`review_run --run N --from-csv path --json`: (its report, its refusal)."""
    out = io.StringIO()
    error = None
    args = ("--run", str(run.pk), "--from-csv", path, "--json", *args)
    try:
        call_command("review_run", *args, stdout=out)
    except CommandError as exc:
        error = exc
    return json.loads(out.getvalue()), error


def decisions_written() -> tuple[int, ...]:
    """Counts any decision would change."""
    return (
        WorkerReview.objects.count(),
        Payment.objects.count(),
        Agent.objects.filter(status__in=DECIDED_AGENT_STATUSES).count(),
        Unit.objects.exclude(status=UnitStatus.COMPLETED).count(),
    )
