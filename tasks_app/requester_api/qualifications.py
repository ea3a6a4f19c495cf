"""Qualifications as the admin has them: the list with worker counts, a new
one, one and the workers on it, and grants and revokes to many workers (the
admin's bulk grant and revoke, each mirrored on the worker's provider after
commit)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from providers.outbox import publishing_together
from providers.registry import WorkerRef, parse_worker_ref
from qualifications_app import services
from qualifications_app.models import GrantedQualification, Qualification
from qualifications_app.services import QualificationError
from tasks_app.models import Worker
from tasks_app.requester_api.base import (
    ADD_QUALIFICATION,
    CONFLICT,
    GRANT,
    VIEW_QUALIFICATIONS,
    RequesterAPIView,
    refused,
)
from tasks_app.requester_api.idempotency import idempotent

# Revoking takes the permission the admin's workers page checks before a
# revoke (qualifications_app.admin.REVOKE_PERMISSION), not the grant's.
REVOKE = "qualifications_app.delete_grantedqualification"
MAX_WORKERS = 10_000
# Bodies are JSON: a form would stop at Django's 1,000 fields
# (DATA_UPLOAD_MAX_NUMBER_FIELDS), far short of MAX_WORKERS.
# GrantedQualification.value is a 32-bit integer column (and MTurk's IntegerValue).
MIN_VALUE, MAX_VALUE = -(2**31), 2**31 - 1
# How many bad entries a refusal lists before "and N more".
LISTED_ERRORS = 5

NAME_PARAMETER = OpenApiParameter(
    "name", str, OpenApiParameter.PATH, description="the qualification's name"
)
PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="a page past the last answers 404"),
    OpenApiParameter("page_size", int, description="100 by default, 1,000 at most"),
]


class RefusalSerializer(serializers.Serializer):
    """What every refusal answers (tasks_app.requester_api.base.refused)."""

    detail = serializers.CharField()
    field = serializers.CharField(
        required=False, help_text="the field, parameter or header at fault"
    )


# A grant's or revoke's refusals: a bad body (400), an unknown qualification
# (404), an Idempotency-Key sent before with another request (422).
POST_REFUSALS = dict.fromkeys((400, 404, 422), RefusalSerializer)


class QualificationSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    workers = serializers.IntegerField(help_text="how many workers hold it")
    created_at = serializers.DateTimeField()


class QualificationDetailSerializer(QualificationSerializer):
    workers_url = serializers.URLField(help_text="the workers on it, paginated")


class QualificationPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = QualificationSerializer(many=True)


class HolderSerializer(serializers.Serializer):
    worker = serializers.CharField(help_text="PROVIDER:ID")
    value = serializers.IntegerField()
    granted_at = serializers.DateTimeField()


class HolderPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HolderSerializer(many=True)


class StrictCharField(serializers.CharField):
    """A JSON string only: not a number that DRF would turn into one."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: not a string, a float or a boolean."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class QualificationInput(serializers.Serializer):
    name = StrictCharField(max_length=200)
    description = StrictCharField(
        required=False, allow_blank=True, default="", max_length=10_000
    )

    def validate_name(self, name: str) -> str:
        # The name is the last segment of the qualification's URLs.
        if "/" in name or not name.isprintable():
            raise serializers.ValidationError(
                "a name has no '/' and no control characters"
            )
        return name


class WorkerRefsField(serializers.ListField):
    """1 to MAX_WORKERS `PROVIDER:ID`, read as WorkerRefs (duplicates once);
    every bad entry is named, by its index and text."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=serializers.CharField(),
            min_length=1,
            max_length=MAX_WORKERS,
            help_text=f"1 to {MAX_WORKERS:,} workers, each PROVIDER:ID "
            "(mock:alice, mturk:A1B2C3D4E5, mturk_sandbox:A1B2C3D4E5, prolific:...)",
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> list[WorkerRef]:
        if isinstance(data, str) or not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not data:
            raise serializers.ValidationError("give at least one worker")
        if len(data) > MAX_WORKERS:
            raise serializers.ValidationError(
                f"at most {MAX_WORKERS:,} workers at once ({len(data):,} given)"
            )
        refs: list[WorkerRef] = []
        errors: list[str] = []
        for index, raw in enumerate(data):
            if not isinstance(raw, str):
                errors.append(f"entry {index} ({raw!r}) is not a string")
                continue
            try:
                refs.append(parse_worker_ref(raw))
            except ValueError as exc:
                errors.append(f"entry {index} ({raw!r}): {exc}")
        if errors:
            more = len(errors) - LISTED_ERRORS
            raise serializers.ValidationError(
                "; ".join(errors[:LISTED_ERRORS])
                + (f"; and {more} more bad entries" if more > 0 else "")
            )
        return list(dict.fromkeys(refs))


class GrantInput(serializers.Serializer):
    workers = WorkerRefsField()
    value = StrictIntegerField(
        required=False, default=1, min_value=MIN_VALUE, max_value=MAX_VALUE
    )
    reason = StrictCharField(
        required=False, allow_blank=True, max_length=1000, help_text="for the audit"
    )


class RevokeInput(serializers.Serializer):
    workers = WorkerRefsField()
    reason = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=1000,
        help_text="for the audit, and sent to MTurk",
    )


class GrantOutput(serializers.Serializer):
    qualification = serializers.CharField()
    value = serializers.IntegerField()
    granted = serializers.ListField(
        child=serializers.CharField(), help_text="workers who did not hold it"
    )
    updated = serializers.ListField(
        child=serializers.CharField(),
        help_text="workers who held it with another value, now this one",
    )
    already_held = serializers.ListField(
        child=serializers.CharField(),
        help_text="workers who held it with this value: nothing was done",
    )
    refused = serializers.DictField(
        child=serializers.CharField(),
        help_text="worker: why not (none for a grant: a worker never seen is "
        "added, as the admin's import does)",
    )


class RevokeOutput(serializers.Serializer):
    qualification = serializers.CharField()
    revoked = serializers.ListField(child=serializers.CharField())
    not_held = serializers.ListField(
        child=serializers.CharField(),
        help_text="workers who did not hold it: nothing was done",
    )
    refused = serializers.DictField(
        child=serializers.CharField(),
        help_text="worker: why not (a worker this site has never seen)",
    )


def acting_user(request: Request) -> User | None:
    """Who is granting or revoking, for the audit rows."""
    return request.user if isinstance(request.user, User) else None


def qualifications() -> QuerySet[Qualification]:
    """Qualifications by name, each with `workers`, the count of its grants."""
    return Qualification.objects.annotate(workers=Count("grants")).order_by("name")


def qualification_named(name: str) -> Qualification:
    qualification = qualifications().filter(name=name).first()
    if qualification is None:
        raise Http404(f"no qualification {name!r}")
    return qualification


def label(provider_type: str, worker_name: str) -> str:
    return WorkerRef(provider_type, worker_name).label


def take_turns(qualification: Qualification) -> None:
    """Make the API's grants and revokes of `qualification` wait for each other
    until the transaction ends, so that each answer says what its own call
    found and did."""
    # FOR NO KEY UPDATE: a grant inserted elsewhere (FOR KEY SHARE on its
    # qualification) is not held up. Grant rows are not locked here: the bulk
    # services lock them after creating workers, and the same order avoids a
    # deadlock with the admin's bulk grant.
    Qualification.objects.select_for_update(no_key=True).get(pk=qualification.pk)


def held_values(qualification: Qualification, refs: list[WorkerRef]) -> dict[str, int]:
    """{label: value} of the grants of `qualification` to `refs`."""
    held: dict[str, int] = {}
    for provider_type in {ref.provider_type for ref in refs}:
        names = [ref.worker_name for ref in refs if ref.provider_type == provider_type]
        grants = GrantedQualification.objects.filter(
            qualification=qualification,
            worker__provider_type=provider_type,
            worker__worker_name__in=names,
        ).values_list("worker__worker_name", "value")
        held.update({label(provider_type, name): value for name, value in grants})
    return held


def known_workers(refs: list[WorkerRef]) -> dict[str, Worker]:
    """{label: worker} of those of `refs` this site has seen."""
    found: dict[str, Worker] = {}
    for provider_type in {ref.provider_type for ref in refs}:
        names = [ref.worker_name for ref in refs if ref.provider_type == provider_type]
        for worker in Worker.objects.filter(
            provider_type=provider_type, worker_name__in=names
        ):
            found[label(worker.provider_type, worker.worker_name)] = worker
    return found


class QualificationList(RequesterAPIView):
    """GET: the qualifications, paginated. POST: a new one."""

    permissions = {"GET": (VIEW_QUALIFICATIONS,), "POST": (ADD_QUALIFICATION,)}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "name", str, description="only names containing this (any case)"
            ),
            *PAGE_PARAMETERS,
        ],
        responses={200: QualificationPageSerializer, 404: RefusalSerializer},
        summary="The qualifications, by name, with how many workers hold each",
        operation_id="qualifications_list",
    )
    def get(self, request: Request) -> Response:
        query = qualifications()
        name = request.query_params.get("name")
        if name:
            query = query.filter(name__icontains=name)
        pages = self.paginate(request, query)
        return pages.get_paginated_response(
            QualificationSerializer(pages.page_items, many=True).data
        )

    @extend_schema(
        request=QualificationInput,
        responses={
            201: QualificationSerializer,
            400: RefusalSerializer,
            409: RefusalSerializer,
            422: RefusalSerializer,
        },
        summary="Create a qualification (a name taken answers 409)",
        operation_id="qualifications_create",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = QualificationInput(data=request.data)
        body.is_valid(raise_exception=True)
        name = body.validated_data["name"]
        try:
            services.create_qualification(
                name=name, description=body.validated_data["description"]
            )
        except (QualificationError, IntegrityError) as exc:
            # Taken before this request, or by another one since (the unique
            # constraint's IntegrityError).
            if Qualification.objects.filter(name=name).exists():
                return refused(f"qualification {name!r} already exists", code=CONFLICT)
            if isinstance(exc, IntegrityError):
                raise
            return refused(str(exc), field="name")
        data = QualificationSerializer(qualification_named(name)).data
        return Response(data, status=201)


class QualificationDetail(RequesterAPIView):
    """GET: one qualification and how many workers hold it."""

    permissions = {"GET": (VIEW_QUALIFICATIONS,)}

    @extend_schema(
        parameters=[NAME_PARAMETER],
        responses={200: QualificationDetailSerializer, 404: RefusalSerializer},
        summary="One qualification; its workers are at workers_url",
        operation_id="qualifications_retrieve",
    )
    def get(self, request: Request, name: str) -> Response:
        qualification = qualification_named(name)
        data = dict(QualificationSerializer(qualification).data)
        data["workers_url"] = request.build_absolute_uri(
            reverse("requester-api:qualification-workers", args=[qualification.name])
        )
        return Response(data)


class QualificationWorkers(RequesterAPIView):
    """GET: the workers holding a qualification, with their values, paginated."""

    permissions = {"GET": (VIEW_QUALIFICATIONS,)}

    @extend_schema(
        parameters=[NAME_PARAMETER, *PAGE_PARAMETERS],
        responses={200: HolderPageSerializer, 404: RefusalSerializer},
        summary="The workers holding a qualification, by provider and id",
        operation_id="qualifications_workers_list",
    )
    def get(self, request: Request, name: str) -> Response:
        qualification = qualification_named(name)
        grants = (
            GrantedQualification.objects.filter(qualification=qualification)
            .order_by("worker__provider_type", "worker__worker_name")
            .values_list(
                "worker__provider_type", "worker__worker_name", "value", "granted_at"
            )
        )
        pages = self.paginate(request, grants)
        rows = [
            {"worker": label(provider, worker), "value": value, "granted_at": at}
            for provider, worker, value, at in pages.page_items
        ]
        return pages.get_paginated_response(HolderSerializer(rows, many=True).data)


class QualificationGrant(RequesterAPIView):
    """POST: grant to many workers at once, all or none; the answer says, per
    worker, whether it was granted, updated to the value or already held."""

    permissions = {"POST": (GRANT,)}

    @extend_schema(
        parameters=[NAME_PARAMETER],
        request=GrantInput,
        responses={200: GrantOutput, **POST_REFUSALS},
        summary="Grant the qualification to workers (the admin's bulk grant; "
        "each grant is mirrored on the worker's provider)",
    )
    @idempotent
    def post(self, request: Request, name: str) -> Response:
        qualification = qualification_named(name)
        body = GrantInput(data=request.data)
        body.is_valid(raise_exception=True)
        refs: list[WorkerRef] = body.validated_data["workers"]
        value: int = body.validated_data["value"]
        # One publish pass for the mirror tasks, as the admin's bulk grant.
        with publishing_together(), transaction.atomic():
            take_turns(qualification)
            held = held_values(qualification, refs)
            services.bulk_grant(
                name=qualification.name,
                refs=refs,
                value=value,
                reason=body.validated_data.get("reason") or "granted through the API",
                created_by=acting_user(request),
            )
        answer: dict[str, Any] = {
            "qualification": qualification.name,
            "value": value,
            "granted": [],
            "updated": [],
            "already_held": [],
            "refused": {},
        }
        for ref in refs:
            before = held.get(ref.label)
            outcome = (
                "granted"
                if before is None
                else "already_held"
                if before == value
                else "updated"
            )
            answer[outcome].append(ref.label)
        return Response(GrantOutput(answer).data)


class QualificationRevoke(RequesterAPIView):
    """POST: revoke from many workers at once (needs the admin's revoke
    permission); the answer says, per worker, revoked, not held or unknown."""

    permissions = {"POST": (REVOKE,)}

    @extend_schema(
        parameters=[NAME_PARAMETER],
        request=RevokeInput,
        responses={200: RevokeOutput, **POST_REFUSALS},
        summary="Revoke the qualification from workers (the admin's bulk revoke; "
        "each revoke is mirrored on the worker's provider)",
    )
    @idempotent
    def post(self, request: Request, name: str) -> Response:
        qualification = qualification_named(name)
        body = RevokeInput(data=request.data)
        body.is_valid(raise_exception=True)
        refs: list[WorkerRef] = body.validated_data["workers"]
        known = known_workers(refs)
        with publishing_together(), transaction.atomic():
            take_turns(qualification)
            held = held_values(qualification, refs)
            services.bulk_revoke(
                name=qualification.name,
                workers=list(known.values()),
                reason=body.validated_data.get("reason") or "revoked through the API",
                created_by=acting_user(request),
            )
        labels = [ref.label for ref in refs]
        answer = {
            "qualification": qualification.name,
            "revoked": [w for w in labels if w in held],
            "not_held": [w for w in labels if w in known and w not in held],
            "refused": {
                w: "this site has never seen this worker"
                for w in labels
                if w not in known
            },
        }
        return Response(RevokeOutput(answer).data)
