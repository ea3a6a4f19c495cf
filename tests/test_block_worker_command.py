"""`manage.py block_worker` and `unblock_worker`: the local blocklist."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from qualifications_app.models import ReviewAction, WorkerReview
from tests.command_calls import run, run_json
from tests.factories import WorkerFactory

pytestmark = pytest.mark.django_db


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
