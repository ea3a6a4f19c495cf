"""The mock provider: a local crowd for testing. Workers arrive by URL.

Nothing leaves the machine: launching a unit makes it available at the task page
(`?worker_id=...&assignment_id=...`), and every call is still written to the
provider call log so that the flow is the same as for a real provider.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from providers.base import Provider, ProviderArgs, RunSpec, WorkRef
from providers.checks import OK, SKIPPED, Check


# Mirrors mephisto.abstractions.providers.mock.mock_provider.MockProviderArgs.
@dataclass
class MockProviderArgs(ProviderArgs):
    _provider_type: str = "mock"


class MockProvider(Provider):
    provider_type = "mock"
    can_override_rejection = True
    args_class = MockProviderArgs
    fee_rate = Decimal("0")
    # A local crowd: any page of the tester's may frame it (as MTurk would).
    frame_ancestors = "*"
    wrap_script = "mock.js"
    # Workers arrive as ?worker_id=...&assignment_id=..., the base class's names.
    sends_real_workers = False

    @classmethod
    def unconfigured(cls) -> str:
        return (
            "needs no credentials and has no endpoint or balance; --provider mock "
            "checks it"
        )

    @classmethod
    def health_checks(cls, *, min_balance: Decimal) -> list[Check]:
        return [
            Check(
                "credentials", OK, "none needed: the mock crowd is local", "", "mock"
            ),
            Check(
                "endpoint", OK, "none: workers arrive at this site by URL", "", "mock"
            ),
            Check(
                "balance", SKIPPED, "not checked: the mock keeps no balance", "", "mock"
            ),
        ]

    @classmethod
    def credentials_hint(cls) -> str:
        return "the mock needs none (--provider mock)"

    def launch_units(
        self,
        *,
        run: RunSpec,
        unit_ids: list[int],
        task_url: str,
        launched_before: Sequence[str] = (),
        requirements: Sequence[Mapping[str, Any]] = (),
    ) -> dict[int, str]:
        # Mock units need no provider-side id: the unit id itself is the address.
        return {}

    def expire_units(self, *, run: RunSpec, provider_unit_ids: list[str]) -> None:
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
        self, *, worker_name: str, qualification_name: str, reason: str = ""
    ) -> dict:
        return {"worker": worker_name, "qualification": qualification_name}

    # Review and money: recorded in the call log (what each returns), paid by no one.

    def approve_work(
        self,
        *,
        work: WorkRef,
        token: str,
        note: str = "",
        override_rejection: bool = False,
    ) -> dict[str, Any]:
        result: dict[str, Any] = {"approved": work.worker_name, "token": token}
        if note:
            result["note"] = note
        if override_rejection:
            result["overrides_rejection"] = True
        return result

    def reject_work(
        self, *, work: WorkRef, feedback: str, token: str
    ) -> dict[str, Any]:
        return {"rejected": work.worker_name, "feedback": feedback, "token": token}

    def pay_bonus(
        self,
        *,
        work: WorkRef,
        amount: Decimal,
        reason: str,
        token: str,
        requested_at: datetime | None = None,
    ) -> dict[str, Any]:
        return {
            "paid": work.worker_name,
            "amount": str(amount),
            "reason": reason,
            "token": token,
        }

    def block_worker(
        self, *, worker_name: str, reason: str, token: str
    ) -> dict[str, Any]:
        return {"blocked": worker_name, "reason": reason, "token": token}

    def unblock_worker(
        self, *, worker_name: str, reason: str, token: str
    ) -> dict[str, Any]:
        return {"unblocked": worker_name, "reason": reason, "token": token}

    def notify_workers(
        self, *, worker_names: Sequence[str], subject: str, message: str
    ) -> dict[str, Any]:
        return {"notified": list(worker_names), "subject": subject}

    def account_balance(self) -> Decimal | None:
        # The mock crowd is paid by no one: there is no balance to check.
        return None
