"""`--help` of the qualification, blocklist, eligibility and review commands:
examples."""

from __future__ import annotations

import pytest
from django.core.management import get_commands, load_command_class

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name, example",
    [
        ("qualifications", "manage.py qualifications import my-task-allowlist --csv"),
        ("block_worker", "manage.py block_worker mturk:A1B2C3D4E5"),
        ("unblock_worker", "manage.py unblock_worker mturk:A1B2C3D4E5"),
        ("explain_eligibility", "manage.py explain_eligibility --run 12 --worker"),
        ("review_run", "manage.py review_run --run 12 --approve-all --grant-allowlist"),
        ("pay_bonus", "manage.py pay_bonus --unit 41 --amount 0.50 --reason"),
        ("notify_workers", "manage.py notify_workers --run 7 --subject"),
        ("shutdown_run", "manage.py shutdown_run --run 12 --reason"),
        ("export_results", "manage.py export_results --run 12 --format csv --output"),
        ("run_status", "manage.py run_status --run 12 --json"),
        ("run_status", "manage.py run_status --run 12 --agreement rating"),
        ("list_runs", "manage.py list_runs --task-name sentence-rating-pilot"),
        ("curate_workers", "manage.py curate_workers --run 12 --field label"),
        ("export_results", "manage.py export_results --run 12 --aggregate rating"),
        ("check_providers", "manage.py check_providers --provider mturk_sandbox"),
    ],
)
def test_help_of_each_command_shows_an_example(name, example):
    # Each command from the app that defines it, as manage.py finds it.
    command = load_command_class(get_commands()[name], name)

    text = " ".join(command.create_parser("manage.py", name).format_help().split())

    assert "Example" in text
    assert example in text


def test_qualifications_help_has_an_example_for_every_subcommand():
    command = load_command_class("qualifications_app", "qualifications")

    text = command.create_parser("manage.py", "qualifications").format_help()

    for action in ("create", "list", "workers", "grant", "revoke", "import", "export"):
        assert f"manage.py qualifications {action} " in text


def test_review_run_help_shows_every_scripted_form_and_the_keys():
    command = load_command_class("tasks_app", "review_run")

    text = command.create_parser("manage.py", "review_run").format_help()

    for form in (
        "--approve 41",
        "--approve-all",
        "--reject 44 --feedback",
        "--soft-reject",
    ):
        assert f"manage.py review_run --run 12 {form}" in text
    assert "a approve   r reject" in text
