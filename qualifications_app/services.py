"""Every write to qualifications and grants goes through a function here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db import transaction

from qualifications_app.models import (
    GrantedQualification,
    Qualification,
    ReviewAction,
    WorkerReview,
)

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

    from tasks_app.models import Unit, Worker


@transaction.atomic
def ensure_qualifications(*, names: Iterable[str]) -> None:
    """Create the qualifications in `names` that don't exist yet. Safe to run twice."""
    names = list(dict.fromkeys(names))
    if names:
        Qualification.objects.bulk_create(
            [Qualification(name=name) for name in names], ignore_conflicts=True
        )


@transaction.atomic
def grant_qualification(
    *,
    worker: Worker,
    name: str,
    value: int = 1,
    reason: str = "",
    unit: Unit | None = None,
    created_by: AbstractBaseUser | None = None,
) -> GrantedQualification:
    """Give `worker` qualification `name` with `value` (creating it), with an audit row.

    Granting again updates the value; the grant is unique per worker.
    """
    qualification, _ = Qualification.objects.get_or_create(name=name)
    grant, created = GrantedQualification.objects.select_for_update().get_or_create(
        worker=worker, qualification=qualification, defaults={"value": value}
    )
    if not created and grant.value != value:
        grant.value = value
        grant.save(update_fields=["value", "updated_at"])
    WorkerReview.objects.create(
        worker=worker,
        action=ReviewAction.GRANT,
        unit=unit,
        qualification=qualification,
        value=value,
        reason=reason,
        created_by=created_by,
    )
    return grant
