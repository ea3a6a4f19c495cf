"""The provider call log, for reconciling what was sent to a provider."""

from django.contrib import admin

from providers.models import OutboxMessage, ProviderCall


@admin.register(ProviderCall)
class ProviderCallAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "provider_type",
        "operation",
        "status",
        "attempts",
        "run",
    ]
    list_filter = ["status", "provider_type", "operation"]
    list_select_related = ["run"]
    search_fields = ["idempotency_key", "error"]
    readonly_fields = [
        "provider_type",
        "operation",
        "idempotency_key",
        "run",
        "status",
        "attempts",
        "request",
        "response",
        "error",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    # The call log is what stops a call being made twice: read-only.
    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Tasks waiting for the broker; beat's `send_outbox` publishes them."""

    list_display = ["created_at", "task_name", "kwargs", "attempts", "sent_at"]
    list_filter = ["task_name", ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["task_name", "last_error"]
    readonly_fields = [
        "task_name",
        "kwargs",
        "created_at",
        "attempts",
        "last_error",
        "sent_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False
