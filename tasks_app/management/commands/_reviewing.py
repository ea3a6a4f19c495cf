"""What review_run and pay_bonus share: who is reviewing, how to say who worked
and for how long, and how to print what workers sent to a terminal."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from providers.registry import WorkerRef
from tasks_app.selectors.stats import format_seconds

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from tasks_app.models import Agent, Worker

# What a worker's text could use to take over the reviewer's terminal (move the
# cursor, recolour, rewrite the screen: the C0 controls but newline and tab,
# DEL, the C1 controls, CSI among them) or to hide and reorder what it shows
# (bidirectional overrides, zero-width and other invisible format characters).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e"
    "\u2060-\u206f\ufeff\ufff9-\ufffb]"
)
_UNSAFE_ON_ONE_LINE = re.compile(f"[\n\t]|{_UNSAFE.pattern}")


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
    """PROVIDER:ID, as the commands take workers, safe to print on one line."""
    return one_line(WorkerRef(worker.provider_type, worker.worker_name).label)


def blocked_mark(worker: Worker) -> str:
    """What follows a worker's label when they are on the blocklist."""
    return " (BLOCKED: gets no more work)" if worker.is_blocked else ""


def terminal_text(text: str) -> str:
    """`text` with every character that could act on the terminal, or hide or
    reorder text, written as its JSON escape (`\\u001b`, `\\u202e`): what is
    printed is what was sent. Newlines and tabs are kept."""
    return _UNSAFE.sub(_escape, text)


def one_line(text: str) -> str:
    """`terminal_text` that keeps `text` on its line (newlines and tabs escaped)."""
    return _UNSAFE_ON_ONE_LINE.sub(_escape, text)


_SHORT_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    # As JSON writes them, so an escaped JSON value is still JSON.
    char = match.group()
    return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def work_time(agent: Agent) -> str:
    """How long the worker took, from accepting the unit to submitting it
    ("3 min 05 s"); "" when not timed here (work recorded from the provider's
    listing) or not submitted."""
    if agent.submitted_at is None or agent.from_provider_listing:
        return ""
    return format_seconds((agent.submitted_at - agent.created_at).total_seconds())
