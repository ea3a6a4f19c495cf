"""The operator's view of tasks, runs, units, workers and agents."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q
from django.utils.html import format_html

from tasks_app import selectors
from tasks_app.models import (
    Agent,
    Assignment,
    OnboardingAgent,
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
        return obj._run_count


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "task",
        "status",
        "provider_type",
        "blueprint_type",
        "task_reward",
        "unit_progress",
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
        (None, {"fields": ["task", "requester", "status", "task_page"]}),
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
        return (
            super()
            .get_queryset(request)
            .annotate(
                _units=Count("units"),
                _done=Count(
                    "units",
                    filter=Q(
                        units__status__in=[
                            UnitStatus.COMPLETED,
                            UnitStatus.ACCEPTED,
                            UnitStatus.REJECTED,
                            UnitStatus.SOFT_REJECTED,
                        ]
                    ),
                ),
            )
        )

    def has_add_permission(self, request) -> bool:
        # Runs are launched from a config (manage.py launch_run), never typed in.
        return False

    @admin.display(description="done / units")
    def unit_progress(self, obj: TaskRun) -> str:
        return f"{obj._done} / {obj._units}"

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
    fields = ["unit_index", "status", "worker", "pay_amount"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "row_index", "data"]
    list_select_related = ["run"]
    list_filter = ["run__task"]
    search_fields = ["run__task__task_name"]
    readonly_fields = ["run", "row_index", "data"]
    inlines = [UnitInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "run",
        "assignment",
        "unit_index",
        "status",
        "worker",
        "pay_amount",
        "updated_at",
    ]
    list_filter = ["status", "run__provider_type", "run__task"]
    list_select_related = ["run", "assignment", "worker"]
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

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ["worker_name", "provider_type", "is_blocked", "created_at"]
    list_filter = ["provider_type", "is_blocked"]
    search_fields = ["worker_name"]
    readonly_fields = ["provider_type", "worker_name", "is_blocked", "created_at"]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["id", "unit", "worker", "run", "status", "is_late", "submitted_at"]
    list_filter = ["status", "is_late", "run__task"]
    list_select_related = ["unit", "worker", "run"]
    search_fields = ["worker__worker_name", "registration_id"]
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


@admin.register(OnboardingAgent)
class OnboardingAgentAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "worker", "status", "submitted_at"]
    list_filter = ["status", "run__task"]
    list_select_related = ["run", "worker"]
    search_fields = ["worker__worker_name", "registration_id"]
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
