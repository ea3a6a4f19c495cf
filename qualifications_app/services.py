"""Every write to qualifications and grants goes through a function here."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from qualifications_app.models import Qualification


@transaction.atomic
def ensure_qualifications(*, names: Iterable[str]) -> None:
    """Create the qualifications in `names` that don't exist yet. Safe to run twice."""
    names = list(dict.fromkeys(names))
    if names:
        Qualification.objects.bulk_create(
            [Qualification(name=name) for name in names], ignore_conflicts=True
        )
