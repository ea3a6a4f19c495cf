"""The admin of requesters, tasks and runs: a run's page (dashboard, config
history, exports, review queue link) and the shutdown action."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html

from tasks_app import selectors
from tasks_app.admin import (
    csv_review,
    dashboard,
    exports,
    lifecycle,
    review_pages,
    review_queue,
    units,
)
from tasks_app.models import (
    Requester,
    Task,
    TaskRun,
    UnitStatus,
)
from tasks_app.selectors.history import stored_config_text


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
class TaskRunAdmin(lifecycle.KeepsWorkedOn, admin.ModelAdmin):
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
        "ended_at",
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
        "offline_review",
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
        "ended_at",
        "end_reason",
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
                    "offline_review",
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
        (
            "When",
            {"fields": ["created_at", "launched_at", "ended_at", "end_reason"]},
        ),
    ]

    def get_queryset(self, request):
        # A subquery per run on the unit index, not a join grouped by every run
        # column (over a second for the page of a 100,000-unit run).
        return (
            super()
            .get_queryset(request)
            .annotate(
                _units=units.units_of_run(),
                _done=units.units_of_run(
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

    actions = [lifecycle.shutdown_runs]

    def has_shutdown_permission(self, request) -> bool:
        return request.user.has_perm(lifecycle.SHUTDOWN_PERMISSION)

    # A run workers took part in is kept: its delete page says why.
    protected_reasons = staticmethod(lifecycle.protected_runs)

    # The run's dashboard above its fields and its config history below them.
    change_form_template = "admin/tasks_app/taskrun/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dashboard.run_page_context(self, request, object_id)
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **extra}
        )

    def get_urls(self):
        return [
            *review_queue.review_urls(self),
            *csv_review.csv_review_urls(self),
            *exports.export_urls(self),
            *super().get_urls(),
        ]

    @admin.display(description="review")
    def review_queue(self, obj: TaskRun) -> str:
        return review_pages.review_link(obj)

    @admin.display(description="offline review")
    def offline_review(self, obj: TaskRun) -> str:
        return csv_review.csv_review_link(obj)

    @admin.display(description="results")
    def results_export(self, obj: TaskRun) -> str:
        return exports.export_links(obj)

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
