"""The operator's view of tasks, runs, units, workers and agents."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html

from providers.registry import parse_worker_ref
from providers.services import publishing_together
from qualifications_app import services as qualification_services
from qualifications_app.admin import REVOKE_PERMISSION, acting_user
from qualifications_app.models import Qualification
from qualifications_app.services import GRANT_PERMISSION, QualificationError
from tasks_app import (
    admin_dashboard,
    admin_export,
    admin_lifecycle,
    admin_review,
    admin_units,
    eligibility,
    selectors,
)
from tasks_app.models import (
    Agent,
    Assignment,
    OnboardingAgent,
    Payment,
    Requester,
    Task,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)
from tasks_app.services import stored_config_text


@admin.register(Requester)
class RequesterAdmin(admin.ModelAdmin):
    list_display = ["name", "provider_type", "created_at"]
    list_filter = ["provider_type"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["task_name", "task_type", "run_count", "created_at"]
    list_filter = ["task_type"]
    search_fields = ["task_name"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_run_count=Count("runs"))

    @admin.display(description="runs", ordering="_run_count")
    def run_count(self, obj: Task) -> int:
        return obj._run_count  # type: ignore[attr-defined]  # annotated above


@admin.register(TaskRun)
class TaskRunAdmin(admin_lifecycle.KeepsWorkedOn, admin.ModelAdmin):
    list_display = [
        "id",
        "task",
        "status",
        "provider_type",
        "blueprint_type",
        "task_reward",
        "unit_progress",
        "review_queue",
        "created_at",
    ]
    list_filter = ["status", "provider_type", "blueprint_type", "architect_type"]
    list_select_related = ["task", "requester"]
    search_fields = ["task__task_name", "task_title", "config_hash"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "task",
        "requester",
        "status",
        "blueprint_type",
        "architect_type",
        "provider_type",
        "task_page",
        "review_queue",
        "results_export",
        "config_path",
        "config_overrides",
        "config_hash",
        "config_as_given",
        "config_as_resolved",
        "qualifications",
        "shared_state",
        "task_title",
        "task_description",
        "task_reward",
        "task_tags",
        "assignment_duration_in_seconds",
        "allowed_concurrent",
        "maximum_units_per_worker",
        "max_num_concurrent_units",
        "no_submission_patience",
        "created_at",
        "launched_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "task",
                    "requester",
                    "status",
                    "task_page",
                    "review_queue",
                    "results_export",
                ]
            },
        ),
        (
            "What workers see",
            {"fields": ["task_title", "task_description", "task_reward", "task_tags"]},
        ),
        (
            "Limits",
            {
                "fields": [
                    "assignment_duration_in_seconds",
                    "allowed_concurrent",
                    "maximum_units_per_worker",
                    "max_num_concurrent_units",
                    "no_submission_patience",
                    "qualifications",
                ]
            },
        ),
        (
            "Config (frozen at launch)",
            {
                "fields": [
                    "blueprint_type",
                    "architect_type",
                    "provider_type",
                    "config_path",
                    "config_overrides",
                    "config_hash",
                    "config_as_given",
                    "config_as_resolved",
                    "shared_state",
                ]
            },
        ),
        (None, {"fields": ["created_at", "launched_at"]}),
    ]

    def get_queryset(self, request):
        # A subquery per run on the unit index, not a join grouped by every run
        # column (over a second for the page of a 100,000-unit run).
        return (
            super()
            .get_queryset(request)
            .annotate(
                _units=admin_units.units_of_run(),
                _done=admin_units.units_of_run(
                    status__in=[
                        UnitStatus.COMPLETED,
                        UnitStatus.ACCEPTED,
                        UnitStatus.REJECTED,
                        UnitStatus.SOFT_REJECTED,
                    ]
                ),
            )
        )

    def has_add_permission(self, request) -> bool:
        # Runs are launched from a config (manage.py launch_run), never typed in.
        return False

    actions = [admin_lifecycle.shutdown_runs]

    def has_shutdown_permission(self, request) -> bool:
        return request.user.has_perm(admin_lifecycle.SHUTDOWN_PERMISSION)

    # A run workers took part in is kept: its delete page says why.
    protected_reasons = staticmethod(admin_lifecycle.protected_runs)

    # The run's dashboard above its fields and its config history below them.
    change_form_template = "admin/tasks_app/taskrun/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = admin_dashboard.run_page_context(self, request, object_id)
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **extra}
        )

    def get_urls(self):
        return [
            *admin_review.review_urls(self),
            *admin_export.export_urls(self),
            *super().get_urls(),
        ]

    @admin.display(description="review")
    def review_queue(self, obj: TaskRun) -> str:
        return admin_review.review_link(obj)

    @admin.display(description="results")
    def results_export(self, obj: TaskRun) -> str:
        return admin_export.export_links(obj)

    @admin.display(description="done / units")
    def unit_progress(self, obj: TaskRun) -> str:
        # Both annotated by get_queryset.
        done, units = obj._done, obj._units  # type: ignore[attr-defined]
        return f"{done} / {units}"

    @admin.display(description="task page")
    def task_page(self, obj: TaskRun) -> str:
        url = selectors.task_url(obj)
        return format_html('<a href="{}" target="_blank">{}</a>', url, url)

    @admin.display(description="config as given (YAML)")
    def config_as_given(self, obj: TaskRun) -> str:
        return format_html("<pre>{}</pre>", obj.config_yaml)

    @admin.display(description="config as resolved")
    def config_as_resolved(self, obj: TaskRun) -> str:
        return format_html("<pre>{}</pre>", stored_config_text(obj))


class UnitInline(admin.TabularInline):
    model = Unit
    fields = readonly_fields = ("unit_index", "status", "worker", "pay_amount")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Assignment)
class AssignmentAdmin(admin_lifecycle.KeepsWorkedOn, admin.ModelAdmin):
    list_display = ["id", "run", "row_index", "data"]
    list_select_related = ["run"]
    list_filter = ["run__task"]
    search_fields = ["run__task__task_name"]
    readonly_fields = ["run", "row_index", "data"]
    inlines = [UnitInline]

    def has_add_permission(self, request) -> bool:
        return False

    # A assignment workers took part in is kept: its delete page says why.
    protected_reasons = staticmethod(admin_lifecycle.protected_assignments)


@admin.register(Unit)
class UnitAdmin(admin_lifecycle.KeepsWorkedOn, admin.ModelAdmin):
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
    list_filter = ["status", admin_units.RunFilter, "run__provider_type", "run__task"]
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
        return admin_units.with_submission(super().get_queryset(request))

    @admin.display(description="run", ordering="run_id")
    def run_link(self, obj: Unit) -> str:
        return admin_units.run_link(obj.run_id)

    @admin.display(description="submission")
    def submission(self, obj: Unit) -> str:
        # Annotated by get_queryset.
        return admin_units.submission_summary(obj._submission)  # type: ignore[attr-defined]

    def has_add_permission(self, request) -> bool:
        return False

    # A unit workers took part in is kept: its delete page says why.
    protected_reasons = staticmethod(admin_lifecycle.protected_units)

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


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ["worker_name", "provider_type", "is_blocked", "created_at"]
    list_filter = ["provider_type", "is_blocked"]
    search_fields = ["worker_name"]
    readonly_fields = ["provider_type", "worker_name", "is_blocked", "created_at"]
    change_form_template = "admin/tasks_app/worker/change_form.html"

    class AddForm(forms.ModelForm):
        """A new worker, named as the qualification import names one."""

        class Meta:
            model = Worker
            fields = ["provider_type", "worker_name"]

        def clean(self):
            data = super().clean()
            provider, name = data.get("provider_type"), data.get("worker_name")
            if provider and name:
                # The same check and sandbox suffix as every other way in.
                try:
                    ref = parse_worker_ref(f"{provider}:{name}")
                except ValueError as exc:
                    raise forms.ValidationError({"worker_name": str(exc)}) from None
                data["worker_name"] = ref.worker_name
            return data

    def get_readonly_fields(self, request, obj=None):
        # Blocking goes through block_view, which leaves an audit row.
        return self.readonly_fields if obj else ["is_blocked", "created_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.AddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_urls(self):
        return [
            path(
                "<int:pk>/block/",
                self.admin_site.admin_view(self.block_view),
                name="tasks_app_worker_block",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        worker = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if worker is not None:
            extra.update(selectors.worker_summary(worker=worker))
            run_id = request.GET.get("explain_run", "")
            if run_id.isdigit():
                run = TaskRun.objects.select_related("task").filter(pk=run_id).first()
                if run is not None:
                    extra["explain_run"] = run
                    extra["verdicts"] = eligibility.explain(run=run, worker=worker)
            extra["recent_runs"] = TaskRun.objects.select_related("task")[:50]
        return super().change_view(request, object_id, form_url, extra)

    def block_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Block or unblock a worker; changes only on POST, with a reason."""
        worker = get_object_or_404(Worker, pk=pk)
        if not self.has_change_permission(request, worker):
            raise PermissionDenied
        if request.method == "POST":
            blocked = request.POST.get("blocked") == "1"
            qualification_services.set_blocked(
                worker=worker,
                blocked=blocked,
                reason=request.POST.get("reason", "").strip(),
                created_by=acting_user(request),
            )
            state = "blocked" if blocked else "unblocked"
            messages.success(request, f"{worker} is {state}.")
            return redirect("admin:tasks_app_worker_change", worker.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": worker,
            "worker": worker,
            "title": ("Unblock " if worker.is_blocked else "Block ") + str(worker),
        }
        return TemplateResponse(request, "admin/tasks_app/worker/block.html", context)


@admin.register(Agent)
class AgentAdmin(admin_lifecycle.KeepsWorkedOn, admin.ModelAdmin):
    list_display = ["id", "unit", "worker", "run", "status", "is_late", "submitted_at"]
    list_filter = ["status", "is_late", "run__task"]
    list_select_related = ["unit", "worker", "run"]
    # ^public_id: the agent reference a static template shows (mephisto_agent_id).
    search_fields = ["worker__worker_name", "registration_id", "^public_id"]
    readonly_fields = [
        "public_id",
        "unit",
        "worker",
        "run",
        "status",
        "registration_id",
        "provider_assignment_id",
        "submission",
        "metadata",
        "is_late",
        "created_at",
        "deadline_at",
        "submitted_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    # A agent workers took part in is kept: its delete page says why.
    protected_reasons = staticmethod(admin_lifecycle.protected_agents)


@admin.register(OnboardingAgent)
class OnboardingAgentAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "worker", "status", "submitted_at"]
    list_filter = ["status", "run__task"]
    list_select_related = ["run", "worker"]
    # ^public_id: the agent reference a static template shows (mephisto_agent_id).
    search_fields = ["worker__worker_name", "registration_id", "^public_id"]
    readonly_fields = [
        "public_id",
        "run",
        "worker",
        "status",
        "registration_id",
        "submission",
        "created_at",
        "submitted_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    """The money ledger, read-only: rows are written by the review services and
    marked paid or failed by the provider calls, never by hand."""

    list_display = [
        "id",
        "kind",
        "amount",
        "currency",
        "state",
        "worker",
        "unit",
        "run",
        "created_at",
    ]
    list_filter = ["state", "kind", "run__task"]
    list_select_related = ["worker", "unit", "run"]
    search_fields = ["worker__worker_name", "idempotency_key"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
