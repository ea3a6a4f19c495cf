"""What review_run and pay_bonus share: who is reviewing, and how to say who worked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from providers.registry import WorkerRef

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from tasks_app.models import Worker


def find_reviewer(username: str | None) -> User | None:
    """The user named by --reviewer, or None for the operator at the terminal.

    A named reviewer's permissions are checked by the review services and their
    name goes into the audit rows; the operator may do anything.
    """
    if username is None:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"there is no user {username!r}; nothing was changed")
    return user  # type: ignore[return-value]


def worker_label(worker: Worker) -> str:
    """PROVIDER:ID, as the commands take workers."""
    return WorkerRef(worker.provider_type, worker.worker_name).label
