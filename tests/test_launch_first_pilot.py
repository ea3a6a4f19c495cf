"""The first pilot runs before anyone is on the allowlist (DESIGN §4): a
`DoesNotExist` requirement on a qualification nobody created creates it empty and
says so; any other comparator on an unknown name is refused."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from qualifications_app.models import Qualification
from tasks_app.models import TaskRun

pytestmark = pytest.mark.django_db

LOCAL = (
    Path(__file__).resolve().parent.parent
    / "examples"
    / "static_react_task"
    / "conf"
    / "local_testing.yaml"
)


def launch(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("launch_run", "--config", str(LOCAL), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_recruiting_before_the_allowlist_exists_creates_it_empty_and_says_so():
    out, err = launch(
        "am_qualifying_new_workers=true", "allowlist_qualification=new-allowlist"
    )

    allowlist = Qualification.objects.get(name="new-allowlist")
    assert allowlist.grants.count() == 0
    assert "Created qualification 'new-allowlist', empty" in err
    assert "Launched run" in out
    assert TaskRun.objects.get().qualifications[0]["comparator"] == "DoesNotExist"


def test_a_second_launch_creates_nothing_and_says_nothing():
    launch("am_qualifying_new_workers=true", "allowlist_qualification=new-allowlist")

    _, err = launch(
        "am_qualifying_new_workers=true",
        "allowlist_qualification=new-allowlist",
        "mephisto.task.task_name=second-pilot",
    )

    assert Qualification.objects.filter(name="new-allowlist").count() == 1
    assert "Created qualification" not in err


def test_json_output_stays_one_object_when_a_qualification_is_created():
    out, err = launch(
        "am_qualifying_new_workers=true",
        "allowlist_qualification=new-allowlist",
        "--json",
    )

    assert set(json.loads(out)) == {"task_run_id", "task_name", "units", "task_url"}
    assert "new-allowlist" in err


def test_the_dry_run_says_it_would_create_the_allowlist_and_creates_nothing():
    out, _ = launch(
        "am_qualifying_new_workers=true",
        "allowlist_qualification=new-allowlist",
        "--dry-run",
    )

    assert "would create qualifications: " in out and "new-allowlist" in out
    assert not Qualification.objects.filter(name="new-allowlist").exists()


def test_collecting_on_an_allowlist_nobody_created_is_refused():
    with pytest.raises(CommandError, match="unknown qualification 'no-such-list'"):
        launch("allowlist_qualification=no-such-list")

    assert not TaskRun.objects.exists()
    assert not Qualification.objects.filter(name="no-such-list").exists()
