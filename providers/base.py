"""The one interface every crowd provider implements.

Providers are called only from Celery tasks (never under a row lock) and are
built lazily: nothing here touches the network at import time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Sequence

    # Only for the annotations: providers are handed runs, never import the apps.
    from tasks_app.models import TaskRun
    from tasks_app.run_config import RunConfig


class ProviderError(Exception):
    """A provider call failed. `transient` says whether retrying may help."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class Provider(ABC):
    """A crowd provider: where workers come from and how they are paid."""

    provider_type: ClassVar[str]
    # The provider's commission on rewards and bonuses, for cost estimates.
    fee_rate: ClassVar[Decimal] = Decimal("0")
    # Where the task page may hand a finished assignment back (MTurk's
    # externalSubmit), the first being the default; empty for other providers.
    submit_hosts: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check_can_launch(cls, *, config: RunConfig) -> None:
        """Raise ConfigError if this provider can't launch `config` from here.

        The default accepts every config; providers that need credentials check
        for them here, before anything is written.
        """
        return None

    @classmethod
    def worker_name(cls, provider_worker_id: str) -> str:
        """crowdsite's name for the provider's worker `provider_worker_id`."""
        return provider_worker_id

    @abstractmethod
    def launch_units(
        self,
        *,
        run: TaskRun,
        unit_ids: list[int],
        task_url: str,
        launched_before: Sequence[str] = (),
    ) -> dict[int, str]:
        """Post `unit_ids` to the provider; return the provider's id for each.

        `task_url` is where workers open the run's task page; `launched_before`
        the provider ids of the run's units launched earlier. Must be idempotent:
        launching the same unit twice posts it once.
        """

    # Whether grants and revokes are repeated on this provider (see below).
    mirrors_qualifications: ClassVar[bool] = False

    def grant_qualification(
        self, *, worker_name: str, qualification_name: str, value: int
    ) -> dict[str, Any]:
        """Give the worker the qualification on the provider's side, if mirrored."""
        return {"mirrored": False}

    def revoke_qualification(
        self, *, worker_name: str, qualification_name: str
    ) -> dict[str, Any]:
        """Take the qualification away on the provider's side, if mirrored."""
        return {"mirrored": False}

    @abstractmethod
    def expire_units(self, *, run: TaskRun, provider_unit_ids: list[str]) -> None:
        """Withdraw units from the provider so no new worker can take them."""

    def describe_call(self, operation: str, **request: Any) -> dict[str, Any]:
        """What the call log records about a call (no secrets)."""
        return {"operation": operation, **request}
