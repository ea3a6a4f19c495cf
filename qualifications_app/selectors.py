"""Reads worth a name over qualifications."""

from __future__ import annotations

from collections.abc import Iterable

from providers.registry import WorkerRef
from qualifications_app.models import Qualification
from tasks_app.models import Worker


def missing_qualification_names(*, names: Iterable[str]) -> list[str]:
    """Those of `names` that no Qualification has yet, in the order given."""
    names = list(dict.fromkeys(names))
    known = set(
        Qualification.objects.filter(name__in=names).values_list("name", flat=True)
    )
    return [name for name in names if name not in known]


def find_worker(ref: WorkerRef) -> Worker | None:
    """The worker `ref` names, or None if crowdsite has not seen them."""
    return Worker.objects.filter(
        provider_type=ref.provider_type, worker_name=ref.worker_name
    ).first()
