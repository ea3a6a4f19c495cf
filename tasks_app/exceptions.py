"""Refusals of worker requests, by kind; only the worker API turns them into HTTP.
Also the refusal of a reviewer's decision (ReviewError), which the admin and the
commands show as it is.

Services raise these with a message a worker (or the person debugging their page)
can act on. `tasks_app.api` maps each class to its status code.
"""

from __future__ import annotations


class WorkerRequestError(Exception):
    """A worker request that can't be honoured; the message says why."""


class BadWorkerRequest(WorkerRequestError):
    """The request itself is malformed or can't be read as sent."""


class UnknownRun(WorkerRequestError):
    """The task run named by the request does not exist."""


class UnknownAgent(WorkerRequestError):
    """The agent id is not one this server gave out (or it was forged)."""

    def __init__(self, message: str = "unknown agent id") -> None:
        super().__init__(message)


class NotYourRegistration(WorkerRequestError):
    """The registration id belongs to another worker."""


class UnitStateConflict(WorkerRequestError):
    """The unit has moved on (submitted, reviewed, timed out); nothing changed."""


class TooLarge(WorkerRequestError):
    """The request is more than the run or this agent may store; nothing was kept."""


class UnsupportedFileType(WorkerRequestError):
    """A file of a type the run does not take."""


class ReviewError(Exception):
    """A review decision or payment that can't be made; the message says why and
    what was (not) changed."""


class AlreadyDecided(ReviewError):
    """The unit's submission has a decision in force; `decision` says which
    (action, feedback, by whom, when), or is None when it was made meanwhile."""

    def __init__(self, message: str, decision: dict | None = None) -> None:
        super().__init__(message)
        self.decision = decision


class LargeBonusError(ReviewError):
    """A bonus far above the unit's reward, paid only when confirmed."""


class RunLifecycleError(Exception):
    """A run can't be shut down (unknown, or already ended); nothing changed."""
