"""The admin of assignments and units: the units list (its run filter and
submission column) and the grant and revoke actions on units' workers."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Count, JSONField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from providers.outbox import publishing_together
from qualifications_app import services as qualification_services
from qualifications_app.admin import REVOKE_PERMISSION, acting_user
from qualifications_app.models import Qualification
from qualifications_app.services import GRANT_PERMISSION, QualificationError
from tasks_app.admin import lifecycle
from tasks_app.models import (
    Agent,
    Assignment,
    TaskRun,
    Unit,
)

# The run filter offers this many of the latest runs (any other by ?run=<id>).
RECENT_RUNS = 15
# The submission column's length, in characters.
SUBMISSION_CHARS = 90


class RunFilter(admin.SimpleListFilter):
    """By run: the latest RECENT_RUNS runs to choose from, and the chosen one,
    in one query however many runs there are (the field's own filter would list
    every run). Any run is reached with ?run=<id>, as the run's page links."""

    title = "run"
    parameter_name = "run"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        recent = TaskRun.objects.order_by("-pk").values("pk")[:RECENT_RUNS]
        wanted = Q(pk__in=recent)
        chosen = self.value()
        if chosen and chosen.isdigit():
            wanted |= Q(pk=int(chosen))
        runs = (
            TaskRun.objects.filter(wanted)
            .order_by("-pk")
            .values_list("pk", "task__task_name")
        )
        return [(str(pk), f"Run {pk}: {name}") for pk, name in runs]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            raise IncorrectLookupParameters(f"run must be a run id, not {value!r}")
        return queryset.filter(run_id=int(value))


def with_submission(units: QuerySet) -> QuerySet:
    """`units` annotated with `_submission`: the submission of the unit's holder
    if they submitted, else the latest one submitted (a late one), fetched in the
    same query as the units (correlated subqueries, served by the agent's unit
    index; the second runs only for a unit whose holder has none)."""
    submitted = Agent.objects.filter(
        unit=OuterRef("pk"), submitted_at__isnull=False
    ).order_by("-pk")
    holders = submitted.filter(worker_id=OuterRef("worker_id"))
    return units.annotate(
        _submission=Coalesce(
            Subquery(holders.values("submission")[:1]),
            Subquery(submitted.values("submission")[:1]),
            output_field=JSONField(),
        )
    )


def submission_summary(submission: Any, limit: int = SUBMISSION_CHARS) -> str:
    """A submission in one short line: `rating: good · text: The sentence …`.

    A dict shows its keys (in alphabetical order: PostgreSQL's jsonb keeps no
    order) and values (nested ones as compact JSON), anything else is compact
    JSON; whitespace is collapsed; past `limit` characters the line is cut with
    "…". "" for no submission.
    """
    if submission is None:
        return ""
    if isinstance(submission, dict):
        parts = [
            f"{key}: {_scalar(value)}" for key, value in sorted(submission.items())
        ]
        text = " · ".join(parts) if parts else "{}"
    else:
        text = _scalar(submission)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def run_link(run_id: int) -> SafeString:
    """The run as "Run N", linked to its page, from the unit's run_id alone."""
    url = reverse("admin:tasks_app_taskrun_change", args=[run_id])
    return format_html('<a href="{}">Run {}</a>', url, run_id)


def units_of_run(**filters: Any) -> Coalesce:
    """An annotation for runs: how many of the run's data units match `filters`,
    as a subquery per run (an index range on unit_claim_order_idx or
    unit_run_list_idx). Screening and gold units (unit_index < 0) are not
    progress, so they are left out."""
    units = Unit.objects.filter(
        run=OuterRef("pk"), unit_index__gte=0, **filters
    ).order_by()
    count = units.values("run").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(count), 0)


class UnitInline(admin.TabularInline):
    model = Unit
    fields = readonly_fields = ("unit_index", "status", "worker", "pay_amount")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Assignment)
class AssignmentAdmin(lifecycle.KeepsWorkedOn, admin.ModelAdmin):
    list_display = ["id", "run", "row_index", "data"]
    list_select_related = ["run"]
    list_filter = ["run__task"]
    search_fields = ["run__task__task_name"]
    readonly_fields = ["run", "row_index", "data"]
    inlines = [UnitInline]

    def has_add_permission(self, request) -> bool:
        return False

    # A assignment workers took part in is kept: its delete page says why.
    protected_reasons = staticmethod(lifecycle.protected_assignments)


@admin.register(Unit)
class UnitAdmin(lifecycle.KeepsWorkedOn, admin.ModelAdmin):
    list_display = [
        "id",
        "run_link",
        "assignment",
        "unit_index",
        "status",
        "worker",
        "pay_amount",
        "submission",
        "updated_at",
    ]
    list_filter = ["status", RunFilter, "run__provider_type", "run__task"]
    # Not the run: joining it makes SQLite sort every unit of the run before
    # the LIMIT; the run column needs only run_id.
    list_select_related = ["assignment", "worker"]
    # A run may have 100,000 units: no unfiltered COUNT(*) on every page view.
    show_full_result_count = False
    search_fields = ["worker__worker_name", "provider_unit_id", "run__task__task_name"]
    readonly_fields = [
        "assignment",
        "run",
        "unit_index",
        "status",
        "worker",
        "pay_amount",
        "provider_unit_id",
        "created_at",
        "updated_at",
    ]

    actions = ["grant_qualification_action", "revoke_qualification_action"]

    def get_queryset(self, request):
        # The submission column in the page's own query, not one per row.
        return with_submission(super().get_queryset(request))

    @admin.display(description="run", ordering="run_id")
    def run_link(self, obj: Unit) -> str:
        return run_link(obj.run_id)

    @admin.display(description="submission")
    def submission(self, obj: Unit) -> str:
        # Annotated by get_queryset.
        return submission_summary(obj._submission)  # type: ignore[attr-defined]

    def has_add_permission(self, request) -> bool:
        return False

    # A unit workers took part in is kept: its delete page says why.
    protected_reasons = staticmethod(lifecycle.protected_units)

    # The actions write grants, not units: viewing units is not enough, the user
    # needs the qualifications app's own permission (the one its pages check).
    def has_grant_permission(self, request) -> bool:
        return request.user.has_perm(GRANT_PERMISSION)

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm(REVOKE_PERMISSION)

    @admin.action(
        permissions=["grant"],
        description="Grant a qualification to these units' workers",
    )
    def grant_qualification_action(self, request, queryset):
        return self._qualification_action(request, queryset, grant=True)

    @admin.action(
        permissions=["revoke"],
        description="Revoke a qualification from these units' workers",
    )
    def revoke_qualification_action(self, request, queryset):
        return self._qualification_action(request, queryset, grant=False)

    def _qualification_action(self, request, queryset, *, grant: bool):
        """A confirmation page first; the grant or revoke happens on its POST."""
        units = list(queryset.filter(worker__isnull=False).select_related("worker"))
        if not units:
            messages.warning(request, "None of the selected units has a worker.")
            return None
        if request.POST.get("confirm") == "1":
            name = request.POST.get("qualification", "").strip()
            reason = request.POST.get("reason", "").strip()
            try:
                value = int(request.POST.get("value") or 1)
                if not name:
                    raise QualificationError("choose a qualification")
                # One mirror task per worker: published in one pass at the end,
                # so a broker that is down delays the page once, not per worker.
                with publishing_together():
                    if grant:
                        changed = qualification_services.grant_to_unit_workers(
                            units=units,
                            name=name,
                            value=value,
                            reason=reason,
                            created_by=acting_user(request),
                        )
                    else:
                        changed = qualification_services.revoke_from_unit_workers(
                            units=units,
                            name=name,
                            reason=reason,
                            created_by=acting_user(request),
                        )
            except (QualificationError, ValueError) as exc:
                messages.error(request, f"Nothing changed: {exc}")
                return None
            verb = "Granted" if grant else "Revoked"
            messages.success(request, f"{verb} '{name}' for {changed} worker(s).")
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": ("Grant" if grant else "Revoke") + " a qualification",
            "units": units,
            "workers": sorted({u.worker for u in units}, key=str),
            "grant": grant,
            "action": request.POST.get("action"),
            "qualifications": Qualification.objects.order_by("name"),
            "selected": [u.pk for u in units],
        }
        return TemplateResponse(
            request, "admin/tasks_app/unit/qualification_action.html", context
        )
