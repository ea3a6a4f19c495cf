"""The qualification, blocklist and eligibility commands, as scripts use them."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from qualifications_app.models import (
    GrantedQualification,
    Qualification,
    ReviewAction,
    WorkerReview,
)
from tasks_app.models import UnitStatus, Worker
from tests.factories import (
    GrantedQualificationFactory,
    QualificationFactory,
    TaskFactory,
    TaskRunFactory,
    UnitFactory,
    WorkerFactory,
)

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    """Call a command and return what it printed."""
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def run_json(*args: str):
    data = json.loads(run(*args, "--json"))
    # The human text leaks into the JSON (see test_json_output_has_no_internal_keys);
    # drop it here so the other tests check what they are about.
    if isinstance(data, dict):
        data.pop("_text", None)
    return data


def held(name: str) -> dict[str, int]:
    return {
        f"{g.worker.provider_type}:{g.worker.worker_name}": g.value
        for g in GrantedQualification.objects.filter(
            qualification__name=name
        ).select_related("worker")
    }


# --- qualifications create / list / workers -----------------------------------------


def test_create_makes_a_qualification_and_says_so():
    out = run("qualifications", "create", "allowlist", "--description", "good ones")

    assert out.strip() == "Created qualification 'allowlist'."
    assert Qualification.objects.get().description == "good ones"


def test_create_with_json_prints_the_name():
    assert run_json("qualifications", "create", "allowlist") == {
        "name": "allowlist",
        "created": True,
    }


def test_json_output_has_no_internal_keys():
    data = json.loads(run("qualifications", "create", "allowlist", "--json"))

    assert data == {"name": "allowlist", "created": True}


def test_create_refuses_a_duplicate_name():
    QualificationFactory(name="allowlist")

    with pytest.raises(CommandError, match="'allowlist' already exists"):
        run("qualifications", "create", "allowlist")


def test_list_shows_every_qualification_with_its_worker_count():
    GrantedQualificationFactory.create_batch(2, qualification__name="allowlist")
    QualificationFactory(name="empty", description="nobody yet")

    out = run("qualifications", "list")
    data = run_json("qualifications", "list")

    assert out.splitlines() == ["allowlist\t2 workers", "empty\t0 workers"]
    assert data == {
        "qualifications": [
            {"name": "allowlist", "description": "", "workers": 2},
            {"name": "empty", "description": "nobody yet", "workers": 0},
        ]
    }


def test_list_without_qualifications_says_so():
    assert run("qualifications", "list").strip() == "No qualifications."
    assert run_json("qualifications", "list") == {"qualifications": []}


def test_workers_lists_the_workers_on_a_qualification_with_values():
    qualification = QualificationFactory(name="level")
    GrantedQualificationFactory(
        qualification=qualification, worker__worker_name="bob", value=2
    )
    GrantedQualificationFactory(
        qualification=qualification,
        worker__provider_type="mturk",
        worker__worker_name="A1",
        value=5,
    )

    out = run("qualifications", "workers", "level")
    data = run_json("qualifications", "workers", "level")

    assert out.splitlines() == ["mock:bob\t2", "mturk:A1\t5"]
    assert data == {
        "name": "level",
        "workers": [
            {"worker": "mock:bob", "value": 2},
            {"worker": "mturk:A1", "value": 5},
        ],
    }


def test_workers_of_an_unknown_qualification_is_an_error():
    with pytest.raises(CommandError, match="unknown qualification 'nope'"):
        run("qualifications", "workers", "nope")


# --- grant / revoke ----------------------------------------------------------------


def test_grant_gives_every_listed_worker_the_value_creating_new_workers():
    QualificationFactory(name="level")
    WorkerFactory(provider_type="mturk", worker_name="A1")

    out = run(
        "qualifications", "grant", "level", "mturk:A1", "mturk:B2", "--value", "4"
    )

    assert out.strip() == "Granted 'level' = 4 to 2 worker(s) (0 already had it)."
    assert held("level") == {"mturk:A1": 4, "mturk:B2": 4}
    assert Worker.objects.count() == 2


def test_grant_with_json_counts_the_new_grants_and_records_the_reason():
    QualificationFactory(name="allowlist")
    run("qualifications", "grant", "allowlist", "mock:alice")

    data = run_json(
        "qualifications", "grant", "allowlist", "mock:alice", "mock:bob",
        "--reason", "pilot 1",
    )  # fmt: skip

    assert data == {"name": "allowlist", "granted": 1}
    review = WorkerReview.objects.filter(reason="pilot 1").get()
    assert (review.worker.worker_name, review.action) == ("bob", ReviewAction.GRANT)


def test_grant_of_a_sandbox_worker_adds_the_sandbox_suffix():
    QualificationFactory(name="allowlist")

    run("qualifications", "grant", "allowlist", "mturk_sandbox:A1B2C3")

    assert held("allowlist") == {"mturk_sandbox:A1B2C3_sandbox": 1}


def test_grant_of_an_unknown_qualification_is_an_error_and_creates_no_worker():
    with pytest.raises(CommandError, match="unknown qualification 'nope'"):
        run("qualifications", "grant", "nope", "mock:alice")

    assert Worker.objects.count() == 0


@pytest.mark.parametrize(
    "ref, message",
    [
        ("alice", "'alice' is not PROVIDER:ID"),
        ("amazon:A1", "unknown provider 'amazon'"),
        ("mock:bad id", "'bad id' is not a valid worker id"),
    ],
)
def test_grant_with_a_malformed_id_is_an_error_and_grants_nobody(ref, message):
    QualificationFactory(name="allowlist")

    with pytest.raises(CommandError, match=re.escape(message)):
        run("qualifications", "grant", "allowlist", "mock:good", ref)

    assert (Worker.objects.count(), GrantedQualification.objects.count()) == (0, 0)


def test_revoke_takes_the_qualification_from_the_listed_workers():
    for name in ("alice", "bob"):
        GrantedQualificationFactory(
            qualification__name="allowlist", worker__worker_name=name
        )

    out = run("qualifications", "revoke", "allowlist", "mock:alice", "--reason", "spam")

    assert out.strip() == "Revoked 'allowlist' from 1 worker(s)."
    assert held("allowlist") == {"mock:bob": 1}
    review = WorkerReview.objects.get()
    assert (review.action, review.reason) == (ReviewAction.REVOKE, "spam")


def test_revoke_with_json_counts_only_workers_who_held_it():
    GrantedQualificationFactory(
        qualification__name="allowlist", worker__worker_name="alice"
    )
    WorkerFactory(worker_name="bob")

    data = run_json("qualifications", "revoke", "allowlist", "mock:alice", "mock:bob")

    assert data == {"name": "allowlist", "revoked": 1}


def test_revoke_from_an_unknown_worker_is_an_error_and_revokes_nobody():
    GrantedQualificationFactory(
        qualification__name="allowlist", worker__worker_name="alice"
    )

    with pytest.raises(CommandError, match="unknown workers: mock:ghost"):
        run("qualifications", "revoke", "allowlist", "mock:alice", "mock:ghost")

    assert held("allowlist") == {"mock:alice": 1}


def test_revoke_of_an_unknown_qualification_is_an_error():
    WorkerFactory(worker_name="alice")

    with pytest.raises(CommandError, match="unknown qualification 'nope'"):
        run("qualifications", "revoke", "nope", "mock:alice")


# --- import / export -----------------------------------------------------------------

BAD_CSV = """\
provider,worker_id
mturk,A1GOOD
mturk,bad id
mturk,B2GOOD
amazon,C3
mock,alice
"""


def test_import_reads_a_csv_and_grants_everyone_in_it(tmp_path):
    QualificationFactory(name="allowlist")
    path = tmp_path / "workers.csv"
    path.write_text("provider,worker_id\nmturk,A1\nmturk_sandbox,B2\n")

    out = run("qualifications", "import", "allowlist", "--csv", str(path))

    assert out.strip() == "Imported 2 worker(s) into 'allowlist' (2 new or changed)."
    assert held("allowlist") == {"mturk:A1": 1, "mturk_sandbox:B2_sandbox": 1}


def test_import_of_plain_ids_uses_provider_and_value(tmp_path):
    QualificationFactory(name="level")
    path = tmp_path / "ids.txt"
    path.write_text("A1\nB2\n")

    data = run_json(
        "qualifications", "import", "level", "--csv", str(path),
        "--provider", "prolific", "--value", "3",
    )  # fmt: skip

    assert data == {"name": "level", "workers": 2, "granted": 2, "skipped": []}
    assert held("level") == {"prolific:A1": 3, "prolific:B2": 3}
    assert set(WorkerReview.objects.values_list("reason", flat=True)) == {"imported"}


def test_import_with_bad_rows_lists_each_line_and_imports_nothing(tmp_path):
    QualificationFactory(name="allowlist")
    path = tmp_path / "workers.csv"
    path.write_text(BAD_CSV)

    with pytest.raises(CommandError) as error:
        run("qualifications", "import", "allowlist", "--csv", str(path))

    message = str(error.value)
    assert "nothing imported" in message
    assert "line 3: 'bad id' is not a valid worker id" in message
    assert "line 5: unknown provider 'amazon'" in message
    assert "--skip-bad-rows" in message
    assert (Worker.objects.count(), GrantedQualification.objects.count()) == (0, 0)


def test_import_with_skip_bad_rows_imports_the_good_ones_and_reports_the_rest(
    tmp_path,
):
    QualificationFactory(name="allowlist")
    path = tmp_path / "workers.csv"
    path.write_text(BAD_CSV)

    out = run(
        "qualifications", "import", "allowlist", "--csv", str(path), "--skip-bad-rows"
    )
    data = run_json(
        "qualifications", "import", "allowlist", "--csv", str(path), "--skip-bad-rows"
    )

    assert held("allowlist") == {"mturk:A1GOOD": 1, "mturk:B2GOOD": 1, "mock:alice": 1}
    assert "Imported 3 worker(s)" in out
    assert "Skipped bad rows:" in out and "line 3:" in out and "line 5:" in out
    assert data["granted"] == 0  # the second import changed nothing
    assert [row["line"] for row in data["skipped"]] == [3, 5]


def test_import_of_a_missing_file_is_an_error(tmp_path):
    QualificationFactory(name="allowlist")

    with pytest.raises(CommandError, match="file not found"):
        run("qualifications", "import", "allowlist", "--csv", str(tmp_path / "x.csv"))


def test_import_of_a_file_without_ids_is_an_error(tmp_path):
    QualificationFactory(name="allowlist")
    path = tmp_path / "empty.csv"
    path.write_text("provider,worker_id\n")

    with pytest.raises(CommandError, match="no worker ids found"):
        run("qualifications", "import", "allowlist", "--csv", str(path))


def test_import_into_an_unknown_qualification_is_an_error_and_writes_nothing(
    tmp_path,
):
    path = tmp_path / "workers.csv"
    path.write_text("mock:alice\n")

    with pytest.raises(CommandError, match="unknown qualification 'nope'"):
        run("qualifications", "import", "nope", "--csv", str(path))

    assert Worker.objects.count() == 0


def test_export_to_stdout_is_a_csv_of_provider_worker_id_value():
    qualification = QualificationFactory(name="level")
    GrantedQualificationFactory(
        qualification=qualification,
        worker__provider_type="mturk_sandbox",
        worker__worker_name="A1_sandbox",
        value=2,
    )
    GrantedQualificationFactory(
        qualification=qualification, worker__worker_name="alice", value=1
    )

    out = run("qualifications", "export", "level")

    assert list(csv.reader(io.StringIO(out))) == [
        ["provider", "worker_id", "value"],
        ["mock", "alice", "1"],
        ["mturk_sandbox", "A1_sandbox", "2"],
    ]


def test_export_then_import_round_trips_the_list(tmp_path):
    QualificationFactory(name="pilot-allowlist")
    run(
        "qualifications", "grant", "pilot-allowlist",
        "mturk_sandbox:A1", "mturk:B2", "prolific:C3", "--value", "2",
    )  # fmt: skip
    path = tmp_path / "allowlist.csv"

    data = run_json(
        "qualifications", "export", "pilot-allowlist", "--output", str(path)
    )
    QualificationFactory(name="live-allowlist")
    run("qualifications", "import", "live-allowlist", "--csv", str(path))

    assert data == {"name": "pilot-allowlist", "workers": 3, "output": str(path)}
    assert held("live-allowlist") == {
        "mturk_sandbox:A1_sandbox": 1,
        "mturk:B2": 1,
        "prolific:C3": 1,
    }
    assert Worker.objects.count() == 3  # nobody duplicated by the round trip


def test_export_to_a_file_says_how_many_were_written(tmp_path):
    GrantedQualificationFactory(qualification__name="allowlist")
    path = tmp_path / "out.csv"

    out = run("qualifications", "export", "allowlist", "--output", str(path))

    assert out.strip() == f"Wrote 1 worker(s) to {path}."
    assert path.read_text().splitlines()[0] == "provider,worker_id,value"


def test_export_to_stdout_with_json_prints_json():
    GrantedQualificationFactory(qualification__name="allowlist")

    json.loads(run("qualifications", "export", "allowlist", "--json"))


def test_export_of_an_unknown_qualification_is_an_error():
    with pytest.raises(CommandError, match="unknown qualification 'nope'"):
        run("qualifications", "export", "nope")


# --- block_worker / unblock_worker ---------------------------------------------------


def test_block_worker_blocks_and_records_the_reason():
    worker = WorkerFactory(provider_type="mturk", worker_name="A1")

    out = run("block_worker", "mturk:A1", "--reason", "copied answers")

    worker.refresh_from_db()
    assert worker.is_blocked is True
    assert out.strip() == "mturk:A1 blocked."
    review = WorkerReview.objects.get()
    assert (review.action, review.reason) == (ReviewAction.BLOCK, "copied answers")


def test_block_worker_twice_says_already_and_json_says_unchanged():
    WorkerFactory(provider_type="mturk", worker_name="A1", is_blocked=True)

    out = run("block_worker", "mturk:A1")
    data = run_json("block_worker", "mturk:A1")

    assert out.strip() == "mturk:A1 blocked (already)."
    assert data == {"worker": "mturk:A1", "blocked": True, "changed": False}
    assert WorkerReview.objects.count() == 0


def test_unblock_worker_unblocks_a_sandbox_worker_by_their_mturk_id():
    worker = WorkerFactory(
        provider_type="mturk_sandbox", worker_name="A1_sandbox", is_blocked=True
    )

    data = run_json("unblock_worker", "mturk_sandbox:A1", "--reason", "appeal")

    worker.refresh_from_db()
    assert worker.is_blocked is False
    assert data == {
        "worker": "mturk_sandbox:A1_sandbox",
        "blocked": False,
        "changed": True,
    }
    assert WorkerReview.objects.get().action == ReviewAction.UNBLOCK


@pytest.mark.parametrize("command", ["block_worker", "unblock_worker"])
def test_blocking_an_unknown_worker_is_an_error(command):
    with pytest.raises(CommandError, match="unknown worker mturk:NOBODY"):
        run(command, "mturk:NOBODY")


@pytest.mark.parametrize("command", ["block_worker", "unblock_worker"])
def test_blocking_a_malformed_id_is_an_error(command):
    with pytest.raises(CommandError, match="is not PROVIDER:ID"):
        run(command, "A1B2C3")


# --- explain_eligibility -------------------------------------------------------------


@pytest.fixture
def allowlist_run():
    """A running run that needs `allowlist` and allows 2 units per worker."""
    QualificationFactory(name="allowlist")
    return TaskRunFactory(
        task=TaskFactory(task_name="rate-sentences"),
        units=3,
        maximum_units_per_worker=2,
        qualifications=[{"qualification_name": "allowlist", "comparator": "Exists"}],
    )


def test_explain_shows_why_a_blocked_unlisted_worker_at_the_maximum_gets_no_work(
    allowlist_run,
):
    worker = WorkerFactory(provider_type="mock", worker_name="bob", is_blocked=True)
    for row in (10, 11):
        UnitFactory(
            assignment__run=allowlist_run,
            assignment__row_index=row,
            worker=worker,
            status=UnitStatus.COMPLETED,
        )

    out = run(
        "explain_eligibility", "--run", str(allowlist_run.pk), "--worker", "mock:bob"
    )

    lines = out.splitlines()
    assert lines[0] == f"Run {allowlist_run.pk} (rate-sentences), worker mock:bob"
    assert "  [pass] run status running" in lines
    assert (
        "  [FAIL] not on the local blocklist — "
        "You are blocked from working on this requester's tasks." in lines
    )
    assert (
        "  [FAIL] qualification allowlist Exists — "
        "This task needs the qualification 'allowlist'." in lines
    )
    assert (
        "  [FAIL] maximum_units_per_worker 2 (has 2 in task 'rate-sentences') — "
        "You have reached the maximum of 2 units for this task." in lines
    )
    assert "  [pass] a launched unit this worker hasn't done" in lines
    assert lines[-1] == f"=> mock:bob gets no work in run {allowlist_run.pk}."


def test_explain_json_lists_every_rule_with_pass_fail_and_reason(allowlist_run):
    worker = WorkerFactory(worker_name="bob", is_blocked=True)
    UnitFactory(
        assignment__run=allowlist_run,
        assignment__row_index=10,
        worker=worker,
        status=UnitStatus.ACCEPTED,
    )

    data = run_json(
        "explain_eligibility", "--run", str(allowlist_run.pk), "--worker", "mock:bob"
    )

    assert (data["run"], data["worker"]) == (allowlist_run.pk, "mock:bob")
    assert (data["known_worker"], data["eligible"]) == (True, False)
    assert data["rules"] == [
        {"rule": "run status running", "passed": True, "reason": ""},
        {
            "rule": "worker's provider mock is the run's (mock)",
            "passed": True,
            "reason": "",
        },
        {
            "rule": "not on the local blocklist",
            "passed": False,
            "reason": "You are blocked from working on this requester's tasks.",
        },
        {
            "rule": "qualification allowlist Exists",
            "passed": False,
            "reason": "This task needs the qualification 'allowlist'.",
        },
        {
            "rule": "maximum_units_per_worker 2 (has 1 in task 'rate-sentences')",
            "passed": True,
            "reason": "",
        },
        {"rule": "onboarding: none", "passed": True, "reason": ""},
        {
            "rule": "a launched unit this worker hasn't done",
            "passed": True,
            "reason": "",
        },
    ]


def test_explain_says_an_allowlisted_worker_can_get_work(allowlist_run):
    GrantedQualificationFactory(
        qualification=Qualification.objects.get(name="allowlist"),
        worker__worker_name="alice",
    )

    out = run(
        "explain_eligibility", "--run", str(allowlist_run.pk), "--worker", "mock:alice"
    )

    assert "[FAIL]" not in out
    assert (
        out.splitlines()[-1] == f"=> mock:alice can get work in run {allowlist_run.pk}."
    )


def test_explain_for_a_worker_never_seen_treats_them_as_a_newcomer(allowlist_run):
    out = run(
        "explain_eligibility", "--run", str(allowlist_run.pk), "--worker", "mock:new"
    )
    data = run_json(
        "explain_eligibility", "--run", str(allowlist_run.pk), "--worker", "mock:new"
    )

    assert "(never seen: explained as a newcomer)" in out.splitlines()[0]
    assert "  [pass] not on the local blocklist" in out.splitlines()
    assert data["known_worker"] is False
    failed = [rule for rule in data["rules"] if not rule["passed"]]
    assert failed == [
        {
            "rule": "qualification allowlist Exists",
            "passed": False,
            "reason": "This task needs the qualification 'allowlist'.",
        }
    ]
    assert Worker.objects.count() == 0  # explaining creates nobody


def test_explain_names_an_mturk_sandbox_worker_by_their_sandbox_name(allowlist_run):
    data = run_json(
        "explain_eligibility", "--run", str(allowlist_run.pk),
        "--worker", "mturk_sandbox:A1",
    )  # fmt: skip

    assert data["worker"] == "mturk_sandbox:A1_sandbox"


def test_explain_an_unknown_run_is_an_error():
    with pytest.raises(CommandError, match="there is no task run 999"):
        run("explain_eligibility", "--run", "999", "--worker", "mock:alice")


def test_explain_with_a_malformed_worker_is_an_error(allowlist_run):
    with pytest.raises(CommandError, match="unknown provider 'amazon'"):
        run(
            "explain_eligibility", "--run", str(allowlist_run.pk),
            "--worker", "amazon:A1",
        )  # fmt: skip


# --- help --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, example",
    [
        ("qualifications", "manage.py qualifications import my-task-allowlist --csv"),
        ("block_worker", "manage.py block_worker mturk:A1B2C3D4E5"),
        ("unblock_worker", "manage.py unblock_worker mturk:A1B2C3D4E5"),
        ("explain_eligibility", "manage.py explain_eligibility --run 12 --worker"),
    ],
)
def test_help_of_each_command_shows_an_example(name, example):
    command = load_command_class(
        "tasks_app" if name == "explain_eligibility" else "qualifications_app", name
    )

    text = " ".join(command.create_parser("manage.py", name).format_help().split())

    assert "Example" in text
    assert example in text


def test_qualifications_help_has_an_example_for_every_subcommand():
    command = load_command_class("qualifications_app", "qualifications")

    text = command.create_parser("manage.py", "qualifications").format_help()

    for action in ("create", "list", "workers", "grant", "revoke", "import", "export"):
        assert f"manage.py qualifications {action} " in text


def test_explain_says_a_worker_of_another_provider_cannot_work_on_the_run():
    run = TaskRunFactory(units=1, provider_type="mturk")

    data = run_json(
        "explain_eligibility", "--run", str(run.pk), "--worker", "mturk_sandbox:A1"
    )

    assert data["eligible"] is False


def test_import_of_a_row_with_too_many_fields_names_the_line(tmp_path):
    QualificationFactory(name="allowlist")
    path = tmp_path / "workers.csv"
    path.write_text("provider,worker_id\nmock,alice\nmock,bob,extra\n")

    with pytest.raises(CommandError, match="line 3"):
        run("qualifications", "import", "allowlist", "--csv", str(path))
