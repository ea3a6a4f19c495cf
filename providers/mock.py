"""The mock provider: a local crowd for testing. Workers arrive by URL.

Nothing leaves the machine: launching a unit makes it available at the task page
(`?worker_id=...&assignment_id=...`), and every call is still written to the
provider call log so that the flow is the same as for a real provider.
"""

from __future__ import annotations

from decimal import Decimal

from providers.base import Provider
from tasks_app.models import TaskRun


class MockProvider(Provider):
    provider_type = "mock"
    fee_rate = Decimal("0")

    def launch_units(self, *, run: TaskRun, unit_ids: list[int]) -> dict[int, str]:
        # Mock units need no provider-side id: the unit id itself is the address.
        return {}

    def expire_units(self, *, run: TaskRun, provider_unit_ids: list[str]) -> None:
        return None
