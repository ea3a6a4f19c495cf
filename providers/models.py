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


class OutboxMessage(models.Model):
    """A Celery task to publish, written in the transaction that calls for it.

    The broker may be down when a web request or a launch commits: the row keeps
    the task until it is published, by the commit hook at once or by the sweep.
    """

    task_name = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            # The outbox sweep: unsent rows, oldest first.
            models.Index(
                fields=["created_at"],
                condition=models.Q(sent_at__isnull=True),
                name="outboxmessage_unsent_idx",
            ),
        ]

    def __str__(self) -> str:
        state = "sent" if self.sent_at else "unsent"
        return f"{self.task_name}({self.kwargs}) {state}"
