"""The provider call log, for reconciling what was sent to a provider."""

from django.contrib import admin

from providers.models import ProviderCall


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
