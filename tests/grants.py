"""Who holds a qualification, as the qualification tests compare it."""

from __future__ import annotations

from qualifications_app.models import GrantedQualification


def held(name: str) -> dict[str, int]:
    """Who holds qualification `name`, as {"provider:worker": value}."""
    return {
        f"{g.worker.provider_type}:{g.worker.worker_name}": g.value
        for g in GrantedQualification.objects.filter(
            qualification__name=name
        ).select_related("worker")
    }
