"""Every write to qualifications, grants and blocks goes through a function here.

Each grant, revoke, block and unblock leaves a `WorkerReview` audit row (who, when,
why, from which unit) and, after commit, is mirrored on the worker's provider.
Bulk operations are atomic: all rows or none.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from providers.base import ProviderError
from providers.calllog import run_logged_call
from providers.outbox import enqueue_on_commit
from providers.registry import WorkerRef, get_provider, parse_worker_ref
from qualifications_app.models import (
    GrantedQualification,
    Qualification,
    ReviewAction,
    WorkerReview,
)
from tasks_app.models import Worker

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from tasks_app.models import Unit


logger = logging.getLogger(__name__)

# Granting a qualification: the permission the admin, the review queue and
# review_run check before a grant.
GRANT_PERMISSION = "qualifications_app.add_grantedqualification"


class QualificationError(Exception):
    """A qualification request that can't be carried out; nothing was changed."""


@transaction.atomic
def ensure_qualifications(*, names: Iterable[str]) -> None:
    """Create the qualifications in `names` that don't exist yet. Safe to run twice."""
    names = list(dict.fromkeys(names))
    if names:
        Qualification.objects.bulk_create(
            [Qualification(name=name) for name in names], ignore_conflicts=True
        )


@transaction.atomic
def create_qualification(*, name: str, description: str = "") -> Qualification:
    """Create a qualification; refuse a name that exists or is blank."""
    name = name.strip()
    if not name or len(name) > 200:
        raise QualificationError("a qualification name is 1-200 characters")
    if Qualification.objects.filter(name=name).exists():
        raise QualificationError(f"qualification {name!r} already exists")
    return Qualification.objects.create(name=name, description=description)


def get_qualification(name: str) -> Qualification:
    qualification = Qualification.objects.filter(name=name).first()
    if qualification is None:
        raise QualificationError(f"unknown qualification {name!r}")
    return qualification


def _mirror(review: WorkerReview) -> None:
    """After commit, repeat this grant or revoke on the worker's provider."""
    # Through the outbox: the grant stands even when the broker is down, and the
    # mirror goes out when it is back.
    enqueue_on_commit(
        task="qualifications_app.tasks.mirror_qualification",
        kwargs={"review_id": review.pk},
    )


def _audit(
    *,
    worker: Worker,
    action: ReviewAction,
    qualification: Qualification | None = None,
    value: int | None = None,
    reason: str = "",
    unit: Unit | None = None,
    created_by: User | None = None,
) -> WorkerReview:
    return WorkerReview(
        worker=worker,
        action=action,
        qualification=qualification,
        value=value,
        reason=reason,
        unit=unit,
        created_by=created_by,
    )


@transaction.atomic
def grant_qualification(
    *,
    worker: Worker,
    name: str,
    value: int = 1,
    reason: str = "",
    unit: Unit | None = None,
    created_by: User | None = None,
    mirror: bool = True,
) -> GrantedQualification:
    """Give `worker` qualification `name` with `value` (creating it), with an audit row.

    Granting again updates the value; the grant is unique per worker. With
    `mirror` False it stays local (a gold counter), never sent to the provider.
    """
    qualification, _ = Qualification.objects.get_or_create(name=name)
    grant, created = GrantedQualification.objects.select_for_update().get_or_create(
        worker=worker, qualification=qualification, defaults={"value": value}
    )
    if not created and grant.value != value:
        grant.value = value
        grant.save(update_fields=["value", "updated_at"])
    review = _audit(
        worker=worker,
        action=ReviewAction.GRANT,
        qualification=qualification,
        value=value,
        reason=reason,
        unit=unit,
        created_by=created_by,
    )
    review.save()
    if mirror:
        _mirror(review)
    return grant


@transaction.atomic
def count_qualification(
    *, worker: Worker, name: str, reason: str = "", unit: Unit | None = None
) -> int:
    """Add one to `worker`'s value of `name` (0 when not held), kept local (never
    mirrored), with an audit row; the new value. Two at once both count: the
    grant's row is locked."""
    qualification, _ = Qualification.objects.get_or_create(name=name)
    grant, created = GrantedQualification.objects.select_for_update().get_or_create(
        worker=worker, qualification=qualification, defaults={"value": 1}
    )
    if not created:
        grant.value += 1
        grant.save(update_fields=["value", "updated_at"])
    _audit(
        worker=worker,
        action=ReviewAction.GRANT,
        qualification=qualification,
        value=grant.value,
        reason=reason,
        unit=unit,
        created_by=None,
    ).save()
    return grant.value


@transaction.atomic
def revoke_qualification(
    *,
    worker: Worker,
    name: str,
    reason: str = "",
    unit: Unit | None = None,
    created_by: User | None = None,
) -> bool:
    """Take `name` away from `worker`; False if they didn't hold it."""
    qualification = get_qualification(name)
    deleted, _ = GrantedQualification.objects.filter(
        worker=worker, qualification=qualification
    ).delete()
    if deleted:
        review = _audit(
            worker=worker,
            action=ReviewAction.REVOKE,
            qualification=qualification,
            reason=reason,
            unit=unit,
            created_by=created_by,
        )
        review.save()
        _mirror(review)
    return bool(deleted)


def _first_unit_per_worker(units: Iterable[Unit]) -> list[tuple[Worker, Unit]]:
    """Each worker with their first unit among `units` (units without one left out)."""
    first: dict[int, tuple[Worker, Unit]] = {}
    for unit in units:
        if unit.worker is not None:
            first.setdefault(unit.worker.pk, (unit.worker, unit))
    return list(first.values())


@transaction.atomic
def grant_to_unit_workers(
    *,
    units: Iterable[Unit],
    name: str,
    value: int = 1,
    reason: str = "",
    created_by: User | None = None,
) -> int:
    """Grant existing `name` to each worker of `units` once; how many. All or none."""
    get_qualification(name)  # refuses an unknown name: a grant never creates one
    firsts = _first_unit_per_worker(units)
    for worker, unit in firsts:
        grant_qualification(
            worker=worker,
            name=name,
            value=value,
            reason=reason,
            unit=unit,
            created_by=created_by,
        )
    return len(firsts)


@transaction.atomic
def revoke_from_unit_workers(
    *,
    units: Iterable[Unit],
    name: str,
    reason: str = "",
    created_by: User | None = None,
) -> int:
    """Revoke `name` from each worker of `units` who holds it; how many. All or none."""
    get_qualification(name)
    return sum(
        revoke_qualification(
            worker=worker,
            name=name,
            reason=reason,
            unit=unit,
            created_by=created_by,
        )
        for worker, unit in _first_unit_per_worker(units)
    )


def _workers_for(refs: list[WorkerRef], *, create: bool) -> dict[WorkerRef, Worker]:
    """Workers by reference, creating missing ones when `create` (for imports)."""
    if create:
        Worker.objects.bulk_create(
            [
                Worker(provider_type=r.provider_type, worker_name=r.worker_name)
                for r in refs
            ],
            ignore_conflicts=True,
        )
    found: dict[WorkerRef, Worker] = {}
    for provider_type in {r.provider_type for r in refs}:
        names = [r.worker_name for r in refs if r.provider_type == provider_type]
        for worker in Worker.objects.filter(
            provider_type=provider_type, worker_name__in=names
        ):
            found[WorkerRef(worker.provider_type, worker.worker_name)] = worker
    missing = [r for r in refs if r not in found]
    if missing:
        listed = ", ".join(r.label for r in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise QualificationError(f"unknown workers: {listed}{more}")
    return found


@transaction.atomic
def bulk_grant(
    *,
    name: str,
    refs: list[WorkerRef],
    value: int = 1,
    reason: str = "",
    created_by: User | None = None,
) -> int:
    """Grant `name` to every worker in `refs`, creating unknown workers. All or none.

    Returns how many grants were created or changed.
    """
    qualification = get_qualification(name)
    refs = list(dict.fromkeys(refs))
    workers = _workers_for(refs, create=True)
    existing = {
        g.worker_id: g
        for g in GrantedQualification.objects.select_for_update().filter(
            qualification=qualification, worker__in=workers.values()
        )
    }
    new = [
        GrantedQualification(worker=w, qualification=qualification, value=value)
        for w in workers.values()
        if w.pk not in existing
    ]
    changed = [g for g in existing.values() if g.value != value]
    GrantedQualification.objects.bulk_create(new)
    now = timezone.now()
    for grant in changed:
        # bulk_update skips auto_now, so the time is set here.
        grant.value, grant.updated_at = value, now
    GrantedQualification.objects.bulk_update(changed, ["value", "updated_at"])
    touched = {g.worker_id for g in new} | {g.worker_id for g in changed}
    reviews = WorkerReview.objects.bulk_create(
        [
            _audit(
                worker=w,
                action=ReviewAction.GRANT,
                qualification=qualification,
                value=value,
                reason=reason,
                created_by=created_by,
            )
            for w in workers.values()
            if w.pk in touched
        ]
    )
    for review in reviews:
        _mirror(review)
    return len(touched)


@transaction.atomic
def bulk_revoke(
    *,
    name: str,
    workers: Iterable[Worker],
    reason: str = "",
    created_by: User | None = None,
) -> int:
    """Revoke `name` from every worker in `workers` who holds it. All or none."""
    qualification = get_qualification(name)
    grants = list(
        GrantedQualification.objects.select_for_update()
        .filter(qualification=qualification, worker__in=list(workers))
        .select_related("worker")
    )
    GrantedQualification.objects.filter(pk__in=[g.pk for g in grants]).delete()
    reviews = WorkerReview.objects.bulk_create(
        [
            _audit(
                worker=g.worker,
                action=ReviewAction.REVOKE,
                qualification=qualification,
                reason=reason,
                created_by=created_by,
            )
            for g in grants
        ]
    )
    for review in reviews:
        _mirror(review)
    return len(grants)


@transaction.atomic
def set_blocked(
    *,
    worker: Worker,
    blocked: bool,
    reason: str = "",
    unit: Unit | None = None,
    created_by: User | None = None,
) -> bool:
    """Put `worker` on (or take them off) the local blocklist; False if unchanged.

    The local blocklist is the hard block: after commit the block (or its end)
    is repeated on the worker's provider too (MTurk's worker blocks).
    """
    changed = Worker.objects.filter(pk=worker.pk, is_blocked=not blocked).update(
        is_blocked=blocked
    )
    if changed:
        worker.is_blocked = blocked
        review = _audit(
            worker=worker,
            action=ReviewAction.BLOCK if blocked else ReviewAction.UNBLOCK,
            reason=reason,
            unit=unit,
            created_by=created_by,
        )
        review.save()
        _mirror(review)
    return bool(changed)


@dataclass
class WorkerList:
    """Worker references read from pasted text or a CSV, with the bad lines."""

    refs: list[WorkerRef] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def parse_worker_list(text: str, *, default_provider: str | None = None) -> WorkerList:
    """Read `PROVIDER:ID` per line (or a CSV with a `worker` or `provider,worker_id`
    header). Every bad line is reported with its number; nothing is dropped silently.
    """
    result = WorkerList()
    lines = text.splitlines()
    header = (
        [h.strip().lower() for h in next(csv.reader([lines[0]]), [])] if lines else []
    )
    if {"worker", "worker_id"} & set(header):
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            number = reader.line_num  # the real line, blank lines included
            if None in row:
                extra = len(row[None])
                result.errors.append(
                    (number, f"{len(header) + extra} values for {len(header)} columns")
                )
                continue
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            if not any(row.values()):
                continue
            raw = row.get("worker") or row.get("worker_id", "")
            if row.get("provider"):
                raw = f"{row['provider']}:{row.get('worker_id', '')}"
            _add(result, number, raw, default_provider)
        return result
    for number, line in enumerate(lines, start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            _add(result, number, line.strip().split(",")[0], default_provider)
    return result


def _add(
    result: WorkerList, number: int, raw: str, default_provider: str | None
) -> None:
    try:
        result.refs.append(parse_worker_ref(raw, default_provider=default_provider))
    except ValueError as exc:
        result.errors.append((number, str(exc)))


def mirror_qualification(*, review_id: int) -> bool:
    """Repeat a grant/revoke/block/unblock audit row on the worker's provider, at
    most once.

    False when the provider doesn't mirror qualifications, or can't block.
    """
    review = WorkerReview.objects.select_related("worker", "qualification", "unit").get(
        pk=review_id
    )
    if review.action in (ReviewAction.BLOCK, ReviewAction.UNBLOCK):
        return mirror_block(review=review)
    worker = review.worker
    provider = get_provider(worker.provider_type)
    if not provider.mirrors_qualifications or review.qualification is None:
        return False
    name = review.qualification.name
    if review.action == ReviewAction.GRANT:
        value = review.value if review.value is not None else 1

        def call():
            return provider.grant_qualification(
                worker_name=worker.worker_name, qualification_name=name, value=value
            )
    else:

        def call():
            return provider.revoke_qualification(
                worker_name=worker.worker_name,
                qualification_name=name,
                reason=review.reason,
            )

    run_logged_call(
        provider_type=worker.provider_type,
        operation=f"{review.action}_qualification",
        key=f"mirror_qualification:review={review.pk}",
        run_id=None,
        request={"worker": worker.worker_name, "qualification": name},
        call=call,
    )
    return True


def mirror_block(*, review: WorkerReview) -> bool:
    """Block or unblock the worker on their provider as `review` did locally, at
    most once; False (the call logged failed) when the provider can't.

    Keyed `review:<pk>` (the audit row), so a retried or redelivered mirror is
    made once.
    """
    worker = review.worker
    provider = get_provider(worker.provider_type)
    key = f"review:{review.pk}"
    if review.action == ReviewAction.BLOCK:
        operation = "block_worker"

        def call() -> dict[str, Any]:
            return provider.block_worker(
                worker_name=worker.worker_name, reason=review.reason, token=key
            )
    else:
        operation = "unblock_worker"

        def call() -> dict[str, Any]:
            return provider.unblock_worker(
                worker_name=worker.worker_name, reason=review.reason, token=key
            )

    try:
        run_logged_call(
            provider_type=worker.provider_type,
            operation=operation,
            key=key,
            run_id=review.unit.run_id if review.unit is not None else None,
            request={"worker": worker.worker_name, "reason": review.reason},
            call=call,
        )
    except ProviderError as exc:
        if exc.transient:
            raise
        # The local block stands; the refusal is on the call log to see.
        logger.error("%s of %s not sent: %s", operation, worker.worker_name, exc)
        return False
    return True
