"""The requester's workflow (DESIGN §1), end to end at the service level.

pilot (recruit workers who are not on the allowlist) → onboarding and units →
review: grant the allowlist to the good workers (by command and in the admin) →
live batch (only allowlisted workers). Then the rules that hold across runs: the
onboarding qualification is shared by every run naming it, and
`maximum_units_per_worker` counts every run with the same `task_name`.

The example configs launch on MTurk; here `mephisto/provider=mock` swaps the
provider (the `server` architect stays), so nothing touches the network.
"""

from __future__ import annotations

import io
import itertools
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from providers.models import ProviderCall
from providers.mturk import MTurkProvider
from qualifications_app.models import GrantedQualification, Qualification
from tasks_app.models import Task, TaskRun, TaskRunStatus, Unit, UnitStatus, Worker
from tasks_app.run_config import ConfigError, load_run_config
from tasks_app.selectors import task_url
from tasks_app.services import (
    AgentDetails,
    launch_run,
    launch_units,
    register_agent,
    submit_onboarding,
    submit_unit,
)
from tests.conftest import EXAMPLE_CONF
from tests.factories import WorkerFactory

pytestmark = pytest.mark.django_db

PILOT = EXAMPLE_CONF / "pilot_1.yaml"
LIVE = EXAMPLE_CONF / "live_batch_1.yaml"
LOCAL = EXAMPLE_CONF / "local_testing.yaml"
MOCK = "mephisto/provider=mock"
ALLOWLIST = "sentence-rating-allowlist"

NOT_ON_ALLOWLIST = (
    f"This task is only for workers without the qualification '{ALLOWLIST}'."
)
NEEDS_ALLOWLIST = f"This task needs the qualification '{ALLOWLIST}'."
FAILED_ONBOARDING = (
    "You did not pass the onboarding for this task, so you can't work on it."
)

registrations = itertools.count()


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_URL = "https://crowd.example.org"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def launch(django_capture_on_commit_callbacks):
    """Launch an example config on the mock provider; units are launched at once."""

    def launch(path, *overrides: str) -> TaskRun:
        config = load_run_config(path, [MOCK, *overrides])
        with django_capture_on_commit_callbacks(execute=True):
            run = launch_run(config=config)
        run.refresh_from_db()
        return run

    return launch


def command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def arrive(run: TaskRun, worker_name: str) -> AgentDetails:
    """A worker opens the run's task page (a fresh registration each time)."""
    return register_agent(
        run=run,
        worker_name=worker_name,
        registration_id=f"{worker_name}-{next(registrations)}",
    )


def onboard(details: AgentDetails, answer: str) -> AgentDetails:
    assert details.agent_id.startswith("onboarding")
    return submit_onboarding(
        agent_id=details.agent_id, onboarding_data={"answer": answer}
    )


def work(run: TaskRun, worker_name: str, *, onboarding_answer: str = "good") -> str:
    """Arrive, onboard when asked, submit one unit. Returns why not, or ''."""
    details = arrive(run, worker_name)
    if details.agent_id and details.agent_id.startswith("onboarding"):
        details = onboard(details, onboarding_answer)
    if details.agent_id is None:
        return details.failure_reason
    assert submit_unit(agent_id=details.agent_id, final_data={"rating": "good"})
    return ""


def units_done(run: TaskRun, worker_name: str) -> int:
    return Unit.objects.filter(
        run=run, worker__worker_name=worker_name, status=UnitStatus.COMPLETED
    ).count()


def onboarding_of(run: TaskRun) -> str:
    return run.resolved_config["mephisto"]["blueprint"]["onboarding_qualification"]


def on_allowlist() -> set[str]:
    return set(
        GrantedQualification.objects.filter(qualification__name=ALLOWLIST).values_list(
            "worker__worker_name", flat=True
        )
    )


# --- 1. pilot → review → allowlist → live batch ----------------------------------


def test_pilot_review_allowlist_and_live_batch(launch, admin_client):
    # The requester creates the allowlist before any run names it.
    command("qualifications", "create", ALLOWLIST, "--description", "good workers")
    veteran = WorkerFactory(worker_name="veteran")
    command("qualifications", "grant", ALLOWLIST, "mock:veteran")

    # Pilot: recruiting, so only workers *without* the allowlist are admitted.
    pilot = launch(PILOT, "am_qualifying_new_workers=true")
    assert pilot.status == TaskRunStatus.RUNNING
    assert pilot.architect_type == "server"
    assert task_url(pilot) == f"https://crowd.example.org/?task_run_id={pilot.pk}"
    assert pilot.qualifications == [
        {
            "qualification_name": ALLOWLIST,
            "comparator": "DoesNotExist",
            "value": None,
            "applicable_providers": None,
        }
    ]
    assert arrive(pilot, "veteran").failure_reason == NOT_ON_ALLOWLIST

    # Newcomers meet the onboarding question first; the hook wants "good".
    assert work(pilot, "alice") == ""
    assert work(pilot, "bob") == ""
    assert work(pilot, "carol") == ""
    assert work(pilot, "dave", onboarding_answer="bad") == FAILED_ONBOARDING
    done = {n: units_done(pilot, n) for n in ("alice", "bob", "carol", "dave")}
    assert done == {"alice": 1, "bob": 1, "carol": 1, "dave": 0}

    # Review: alice and bob did well. One grant by command, one in the admin.
    command("qualifications", "grant", ALLOWLIST, "mock:alice", "--reason", "pilot 1")
    allowlist = Qualification.objects.get(name=ALLOWLIST)
    response = admin_client.post(
        f"/admin/qualifications_app/qualification/{allowlist.pk}/add-workers/",
        {"step": "confirm", "text": "mock:bob\n", "value": "1", "reason": "pilot 1"},
    )
    assert response.status_code == 302
    assert on_allowlist() == {"veteran", "alice", "bob"}
    assert (
        GrantedQualification.objects.get(worker=veteran, qualification=allowlist).value
        == 1
    )

    # Live batch: collecting, so only allowlisted workers are admitted.
    live = launch(LIVE, "am_qualifying_new_workers=false")
    assert live.qualifications[0]["comparator"] == "Exists"
    assert live.units.count() == 2000
    assert live.units.filter(status=UnitStatus.LAUNCHED).count() == 100  # the cap
    assert work(live, "alice") == ""
    assert work(live, "bob") == ""
    assert work(live, "carol") == NEEDS_ALLOWLIST
    assert work(live, "dave") == NEEDS_ALLOWLIST
    assert work(live, "newcomer") == NEEDS_ALLOWLIST
    assert units_done(live, "alice") == units_done(live, "bob") == 1

    # The requester can ask why carol sees no work.
    why = ["--run", str(live.pk), "--worker", "mock:carol", "--json"]
    explained = json.loads(command("explain_eligibility", *why))
    assert explained["eligible"] is False
    assert [r["reason"] for r in explained["rules"] if not r["passed"]] == [
        NEEDS_ALLOWLIST
    ]


def test_grants_made_during_review_are_mirrored_on_the_provider(
    launch, django_capture_on_commit_callbacks
):
    command("qualifications", "create", ALLOWLIST)
    pilot = launch(PILOT)
    work(pilot, "alice")

    with django_capture_on_commit_callbacks(execute=True):
        command("qualifications", "grant", ALLOWLIST, "mock:alice")

    call = ProviderCall.objects.get(operation="grant_qualification")
    assert (call.provider_type, call.request) == (
        "mock",
        {"worker": "alice", "qualification": ALLOWLIST},
    )


def test_a_dry_run_of_the_pilot_writes_nothing():
    command("qualifications", "create", ALLOWLIST)

    plan = json.loads(
        command("launch_run", "--config", str(PILOT), MOCK, "--dry-run", "--json")
    )

    assert (plan["task_name"], plan["units"], plan["architect"]) == (
        "sentence-rating-pilot-1",
        5,
        "server",
    )
    assert (Task.objects.count(), TaskRun.objects.count(), Unit.objects.count()) == (
        0,
        0,
        0,
    )


def test_on_the_mturk_sandbox_the_allowlist_names_sandbox_workers(monkeypatch):
    """The unmodified pilot config, with MTurk replaced at its edge."""
    monkeypatch.setattr(
        MTurkProvider,
        "check_can_launch",
        classmethod(lambda cls, *, provider_args: None),
    )
    monkeypatch.setattr(
        MTurkProvider,
        "launch_units",
        lambda self, *, run, unit_ids, **_: {u: f"HIT{u}" for u in unit_ids},
    )
    # The launch reads the account's balance before it writes anything.
    monkeypatch.setattr(MTurkProvider, "account_balance", lambda self: Decimal("100"))
    command("qualifications", "create", ALLOWLIST)
    command("qualifications", "grant", ALLOWLIST, "mturk_sandbox:A1B2C3")
    config = load_run_config(PILOT)

    run = launch_run(config=config)
    launch_units(run_id=run.pk)

    assert run.provider_type == "mturk_sandbox"
    assert set(run.units.values_list("status", flat=True)) == {UnitStatus.LAUNCHED}
    assert on_allowlist() == {"A1B2C3_sandbox"}
    # The sandbox identity is listed, so the pilot refuses it ...
    assert arrive(run, "A1B2C3_sandbox").failure_reason == NOT_ON_ALLOWLIST
    # ... and the live worker of the same id is somebody else.
    assert not Worker.objects.filter(provider_type="mturk", worker_name="A1B2C3")


# --- 2. the onboarding qualification is shared -----------------------------------


def test_failing_onboarding_refuses_the_worker_in_every_run_sharing_it(launch):
    command("qualifications", "create", ALLOWLIST)
    pilot_1 = launch(PILOT)
    pilot_2 = launch(PILOT, "mephisto.task.task_name=sentence-rating-pilot-2")
    local = launch(LOCAL)  # its own onboarding_qualification
    assert onboarding_of(pilot_1) == onboarding_of(pilot_2) != onboarding_of(local)

    assert work(pilot_1, "dave", onboarding_answer="bad") == FAILED_ONBOARDING
    assert work(pilot_1, "alice") == ""

    # pilot 2 names the same onboarding qualification: dave is refused outright,
    # alice goes straight to work without a second onboarding.
    assert arrive(pilot_2, "dave").failure_reason == FAILED_ONBOARDING
    details = arrive(pilot_2, "alice")
    assert details.agent_id is not None
    assert not details.agent_id.startswith("onboarding")
    # A run with another onboarding qualification gives dave a fresh chance.
    assert arrive(local, "dave").agent_id.startswith("onboarding")


# --- 3. maximum_units_per_worker counts by task_name ------------------------------


def test_maximum_units_per_worker_holds_across_runs_sharing_a_task_name(launch):
    command("qualifications", "create", ALLOWLIST)
    cap = "mephisto.task.maximum_units_per_worker=2"
    first = launch(PILOT, cap)
    second = launch(PILOT, cap)  # same task_name: sentence-rating-pilot-1
    other = launch(PILOT, cap, "mephisto.task.task_name=sentence-rating-pilot-2")
    assert first.task_id == second.task_id != other.task_id

    assert work(first, "alice") == ""
    assert work(first, "alice") == ""
    assert work(first, "alice") == (
        "You have reached the maximum of 2 units for this task."
    )
    # The second run of the same task_name counts the first run's units.
    assert work(second, "alice") == (
        "You have reached the maximum of 2 units for this task."
    )
    # Another task_name starts from zero.
    assert work(other, "alice") == ""
    assert work(other, "alice") == ""
    assert [units_done(r, "alice") for r in (first, second, other)] == [2, 0, 2]


# --- 4. what launch refuses ----------------------------------------------------


def test_collecting_on_an_allowlist_nobody_created_is_refused_at_launch():
    config = load_run_config(PILOT, [MOCK, "am_qualifying_new_workers=false"])

    with pytest.raises(ConfigError, match=f"unknown qualification '{ALLOWLIST}'"):
        launch_run(config=config)

    assert (Task.objects.count(), TaskRun.objects.count()) == (0, 0)
    assert not Qualification.objects.exists()  # not even the onboarding ones


def test_launch_run_command_names_the_unknown_qualification():
    command("qualifications", "create", ALLOWLIST)

    with pytest.raises(CommandError, match="unknown qualification 'english'"):
        command(
            "launch_run", "--config", str(PILOT), MOCK,
            "+mephisto.task.qualifications="
            "[{qualification_name:english,comparator:GreaterThan,value:1}]",
        )  # fmt: skip

    assert TaskRun.objects.count() == 0


def test_a_requirement_on_the_allowlist_next_to_the_hooks_one_is_refused():
    with pytest.raises(ConfigError, match=f"'{ALLOWLIST}' is required twice"):
        load_run_config(
            PILOT,
            [
                MOCK,
                "+mephisto.task.qualifications="
                f"[{{qualification_name:{ALLOWLIST},comparator:Exists}}]",
            ],
        )


def test_a_value_given_to_exists_is_refused():
    with pytest.raises(ConfigError, match="Exists takes no value") as error:
        load_run_config(
            PILOT,
            [
                MOCK,
                "+mephisto.task.qualifications="
                "[{qualification_name:english,comparator:Exists,value:1}]",
            ],
        )

    assert error.value.key == "mephisto.task.qualifications[0].value"
