"""Refusals of worker requests; the worker API turns them into HTTP answers."""

from __future__ import annotations


class WorkerRequestError(Exception):
    """A worker request that can't be honoured; `status` is the HTTP status to send."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
