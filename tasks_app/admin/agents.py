"""The admin of agents (a worker's attempts), onboarding agents and payments:
read-mostly records."""

from __future__ import annotations

from django.contrib import admin

from tasks_app.admin import (
    lifecycle,
)
from tasks_app.models import (
    Agent,
    OnboardingAgent,
    Payment,
)


@admin.register(Agent)
class AgentAdmin(lifecycle.KeepsWorkedOn, admin.ModelAdmin):
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
    protected_reasons = staticmethod(lifecycle.protected_agents)


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
