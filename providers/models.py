"""The provider call log: every outside call, keyed so that nothing is done twice."""

from django.db import models


class CallStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # The call may or may not have happened (timeout, lost answer): reconcile it.
    AMBIGUOUS = "ambiguous"


class ProviderCall(models.Model):
    """One logical call to a provider, however many times it was attempted."""

    provider_type = models.CharField(max_length=32)
    operation = models.CharField(max_length=64)
    # Deterministic for the logical call (e.g. "launch_units:run=12"), so a retry or
    # a second worker running the same task finds the row instead of calling again.
    idempotency_key = models.CharField(max_length=200, unique=True)
    run = models.ForeignKey(
        "tasks_app.TaskRun",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="provider_calls",
    )
    status = models.CharField(
        max_length=16, choices=CallStatus.choices, default=CallStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    request = models.JSONField(default=dict, blank=True)
    response = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [
            # The reconcile sweep: calls left pending or ambiguous.
            models.Index(
                fields=["status", "updated_at"], name="providercall_status_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operation} on {self.provider_type} ({self.status})"
