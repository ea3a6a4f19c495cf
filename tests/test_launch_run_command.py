"""`manage.py launch_run` end to end: refuse bad configs, dry-run, launch, --json."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from qualifications_app.models import Qualification
from tasks_app.models import Assignment, Requester, Task, TaskRun, Unit
from tests.mturk_fake import mturk_fixture as mturk_fixture

pytestmark = pytest.mark.django_db

EXAMPLE_CONF = (
    Path(__file__).resolve().parent.parent / "examples" / "static_react_task" / "conf"
)
LOCAL = EXAMPLE_CONF / "local_testing.yaml"
PILOT = EXAMPLE_CONF / "pilot_1.yaml"
MODELS = (Task, TaskRun, Assignment, Unit, Qualification, Requester)


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def launch(*args: str) -> str:
    out = StringIO()
    call_command("launch_run", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["--config", "/nowhere/task.yaml"], "config file not found", id="no-file"
        ),
        pytest.param(
            ["--config", str(LOCAL), "mephisto.task.task_reward=???"],
            "mephisto.task.task_reward: required, but missing",
            id="missing-reward",
        ),
        pytest.param(
            ["--config", str(LOCAL), "~mephisto.task.task_reward"],
            "mephisto.task.task_reward: is a key of Mephisto's schema",
            id="deleted-reward",
        ),
        pytest.param(
            ["--config", str(LOCAL), "mephisto.task.task_reward=-1"],
            "mephisto.task.task_reward: must be 0 or more",
            id="negative-reward",
        ),
        pytest.param(
            ["--config", str(LOCAL), "mephisto/provider=nonesuch"],
            "mephisto.provider: unknown provider 'nonesuch'",
            id="unknown-provider",
        ),
        pytest.param(
            ["--config", str(LOCAL), "mephisto.blueprint.data_csv=/nowhere/rows.csv"],
            "mephisto.blueprint.data_csv: file not found",
            id="missing-data-file",
        ),
        pytest.param(
            ["--config", str(LOCAL), "+mephisto.task.colour=red"],
            "mephisto.task.colour: unknown key",
            id="unknown-task-key",
        ),
        pytest.param(
            [
                "--config",
                str(LOCAL),
                "mephisto.task.qualifications=[{qualification_name:q,comparator:Big}]",
            ],
            "mephisto.task.qualifications[0].comparator: unknown comparator 'Big'",
            id="unknown-comparator",
        ),
        # Passes loading; refused by the launch itself, inside its transaction.
        pytest.param(
            ["--config", str(LOCAL), "allowlist_qualification=nobody-made-this"],
            "unknown qualification 'nobody-made-this'",
            id="unknown-qualification",
        ),
        pytest.param(
            ["--config", str(LOCAL), "mephisto.task.task_reward=inf"],
            "mephisto.task.task_reward",
            id="infinite-reward",
        ),
        pytest.param(
            ["--config", str(LOCAL), "mephisto.task.budget=0.29"],
            "mephisto.task.budget: this launch would cost $0.30 (6 units at $0.05, "
            "plus $0.00 provider fee), more than the budget of $0.29",
            id="over-budget",
        ),
        pytest.param(
            ["--config", str(LOCAL), "mephisto.task.budget=-5"],
            "mephisto.task.budget: must be a number of dollars more than 0",
            id="negative-budget",
        ),
        pytest.param(
            ["--config", str(LOCAL), "mephisto.task.auto_approve_delay_in_seconds=-1"],
            "mephisto.task.auto_approve_delay_in_seconds: must be from 0 to 2592000",
            id="negative-auto-approve-delay",
        ),
    ],
)
def test_bad_config_is_refused_and_writes_nothing(args, expected):
    before = row_counts()

    with pytest.raises(CommandError, match="^Invalid config ") as caught:
        launch(*args)

    assert expected in str(caught.value)
    assert row_counts() == before


def test_dry_run_prints_units_reward_and_cost_and_writes_nothing():
    before = row_counts()

    out = launch("--config", str(LOCAL), "--dry-run")

    assert "Dry run: nothing was written." in out
    assert "units:       6 (6 assignments)" in out
    assert "reward:      $0.05 per unit" in out
    assert "est. cost:   $0.30" in out
    assert row_counts() == before


def test_dry_run_json_prints_one_json_object():
    out = launch("--config", str(LOCAL), "--dry-run", "--json")

    plan = json.loads(out)
    assert plan["dry_run"] is True
    assert plan["task_name"] == "sentence-rating-local-testing"
    assert (plan["units"], plan["reward_per_unit"], plan["estimated_cost"]) == (
        6,
        "0.05",
        "0.30",
    )
    assert row_counts()["TaskRun"] == 0


def test_json_launch_prints_the_run_id_name_units_and_url(settings):
    settings.SITE_URL = "http://crowd.test"

    out = launch("--config", str(LOCAL), "--json")

    result = json.loads(out)
    run = TaskRun.objects.get()
    assert result == {
        "task_run_id": run.pk,
        "task_name": "sentence-rating-local-testing",
        "units": 6,
        "task_url": f"http://crowd.test/?task_run_id={run.pk}",
    }
    assert Unit.objects.filter(run=run).count() == 6


def test_launch_applies_command_line_overrides():
    out = launch(
        "--config", str(LOCAL), "mephisto.task.task_name=my-task-pilot-2", "--json"
    )

    assert json.loads(out)["task_name"] == "my-task-pilot-2"
    assert Task.objects.get().task_name == "my-task-pilot-2"


def test_overrides_may_sit_on_both_sides_of_the_flags():
    out = launch(
        "--config",
        str(LOCAL),
        "mephisto.task.task_name=split-overrides",
        "--json",
        "mephisto.task.task_reward=0.75",
    )

    assert json.loads(out)["task_name"] == "split-overrides"
    assert TaskRun.objects.get().task_reward == Decimal("0.75")


def test_pilot_dry_run_prices_the_sandbox_run(settings, mturk):
    settings.PUBLIC_URL = "https://crowd.example.org"
    Qualification.objects.create(name="sentence-rating-allowlist")
    before = row_counts()

    out = launch("--config", str(PILOT), "--dry-run")

    assert "provider:    mturk_sandbox" in out
    assert "units:       5 (5 assignments)" in out
    assert "reward:      $0.10 per unit" in out
    assert "est. cost:   $0.60" in out  # 5 × $0.10 plus MTurk's 20% fee
    assert "balance:     $10000.00 (covers the cost)" in out
    assert "requires:    sentence-rating-allowlist DoesNotExist" in out
    assert row_counts() == before
    assert [operation for operation, _ in mturk.requests] == ["GetAccountBalance"]


def test_a_dry_run_says_when_the_balance_would_refuse_the_launch(settings, mturk):
    settings.PUBLIC_URL = "https://crowd.example.org"
    Qualification.objects.create(name="sentence-rating-allowlist")
    mturk.balance = Decimal("0.59")

    out = launch("--config", str(PILOT), "--dry-run")
    plan = json.loads(launch("--config", str(PILOT), "--dry-run", "--json"))

    assert "balance:     $0.59 (LESS THAN THE COST: a launch would be refused)" in out
    assert (plan["estimated_cost"], plan["balance"], plan["funded"]) == (
        "0.60",
        "0.59",
        False,
    )
    assert row_counts()["TaskRun"] == 0


def test_a_dry_run_without_aws_credentials_says_the_balance_was_not_read(
    settings, mturk, monkeypatch
):
    settings.PUBLIC_URL = "https://crowd.example.org"
    Qualification.objects.create(name="sentence-rating-allowlist")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)

    out = launch("--config", str(PILOT), "--dry-run")

    assert "est. cost:   $0.60" in out
    assert (
        "balance:     not read (MTurk get_account_balance failed: no AWS "
        "credentials found); a launch reads it first" in out
    )
    assert not mturk.requests


def test_a_mock_dry_run_shows_no_balance():
    out = launch("--config", str(LOCAL), "--dry-run")
    plan = json.loads(launch("--config", str(LOCAL), "--dry-run", "--json"))

    assert "balance:" not in out
    assert (plan["balance"], plan["balance_error"], plan["funded"]) == (None, "", True)


def test_collecting_dry_run_without_the_allowlist_names_the_unknown_qualification(
    settings,
):
    settings.PUBLIC_URL = "https://crowd.example.org"

    with pytest.raises(
        CommandError, match="unknown qualification 'sentence-rating-allowlist'"
    ):
        launch("--config", str(PILOT), "am_qualifying_new_workers=false", "--dry-run")


def test_dry_run_shows_the_cost_against_the_budget():
    within = launch("--config", str(LOCAL), "--dry-run", "mephisto.task.budget=1")
    over = launch("--config", str(LOCAL), "--dry-run", "mephisto.task.budget=0.1")
    plan = json.loads(
        launch(
            "--config", str(LOCAL), "--dry-run", "--json", "mephisto.task.budget=0.1"
        )
    )

    assert "budget:      $1.00 (within it)" in within
    assert "budget:      $0.10 (OVER BUDGET: refused)" in over
    assert (plan["budget"], plan["within_budget"]) == ("0.10", False)
    assert row_counts()["TaskRun"] == 0


def prolific_dry_run(*overrides: str, as_json: bool = False) -> str:
    return launch(
        "--config",
        str(LOCAL),
        "mephisto/provider=prolific",
        "mephisto/architect=server",
        "mephisto.architect.public_url=https://crowd.example.org",
        *overrides,
        "--dry-run",
        *(["--json"] if as_json else []),
    )


def test_a_prolific_reward_is_read_in_cents_as_mephisto_does(settings):
    settings.PROLIFIC_API_KEY = ""
    before = row_counts()

    out = prolific_dry_run("mephisto.task.task_reward=150", "+mephisto.task.budget=20")

    assert "reward:      $1.50 per unit (task_reward 150 is read in cents" in out
    assert "places:      6 on one study" in out
    # 6 places at $1.50 = $9.00, plus Prolific's 33.3%.
    assert "provider fee: $3.00 (33.3% of rewards)" in out
    assert "est. cost:   $12.00" in out
    assert "budget:      $20.00 (within it)" in out
    assert row_counts() == before


def test_a_prolific_dry_run_json_says_what_the_reward_counts():
    plan = json.loads(prolific_dry_run("mephisto.task.task_reward=150", as_json=True))

    assert (plan["task_reward"], plan["task_reward_unit"]) == ("150", "cents")
    assert (plan["reward_per_unit"], plan["places"]) == ("1.50", 6)
    assert plan["provider_fee_rate"] == "0.333"


def test_a_fraction_of_a_cent_on_prolific_is_refused_not_rounded():
    with pytest.raises(CommandError) as caught:
        prolific_dry_run("mephisto.task.task_reward=0.5")

    message = str(caught.value)
    assert "mephisto.task.task_reward" in message
    assert "read in cents" in message
    assert "150 for $1.50" in message
