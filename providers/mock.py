"""The mock provider: a local crowd for testing. Workers arrive by URL.

Nothing leaves the machine: launching a unit makes it available at the task page
(`?worker_id=...&assignment_id=...`), and every call is still written to the
provider call log so that the flow is the same as for a real provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from providers.base import Provider

if TYPE_CHECKING:
    from tasks_app.models import TaskRun


class MockProvider(Provider):
    provider_type = "mock"
    fee_rate = Decimal("0")
    # A local crowd: any page of the tester's may frame it (as MTurk would).
    frame_ancestors = "*"
    wrap_script = "mock.js"
    # Workers arrive as ?worker_id=...&assignment_id=..., the base class's names.

    def launch_units(
        self,
        *,
        run: TaskRun,
        unit_ids: list[int],
        task_url: str,
        launched_before: Sequence[str] = (),
    ) -> dict[int, str]:
        # Mock units need no provider-side id: the unit id itself is the address.
        return {}

    def expire_units(self, *, run: TaskRun, provider_unit_ids: list[str]) -> None:
        return None

    # The mock "mirrors" grants by recording them in the provider call log, so the
    # flow is exercised end to end as it will be for MTurk and Prolific.
    mirrors_qualifications = True

    def grant_qualification(
        self, *, worker_name: str, qualification_name: str, value: int
    ) -> dict:
        return {
            "worker": worker_name,
            "qualification": qualification_name,
            "value": value,
        }

    def revoke_qualification(
        self, *, worker_name: str, qualification_name: str
    ) -> dict:
        return {"worker": worker_name, "qualification": qualification_name}
