"""Qualifications, the grants that put workers on them, and the review audit log."""

from django.conf import settings
from django.db import models


class Qualification(models.Model):
    """A named list of workers with an integer value each (allowlists, onboarding)."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class GrantedQualification(models.Model):
    """`worker` holds `qualification` with `value`; one row per pair."""

    worker = models.ForeignKey(
        "tasks_app.Worker",
        on_delete=models.CASCADE,
        related_name="granted_qualifications",
    )
    qualification = models.ForeignKey(
        Qualification, on_delete=models.CASCADE, related_name="grants"
    )
    value = models.IntegerField(default=1)
    granted_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["worker", "qualification"],
                name="grantedqualification_one_per_worker",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.qualification_id}={self.value} for worker {self.worker_id}"


class ReviewAction(models.TextChoices):
    APPROVE = "approve"
    REJECT = "reject"
    SOFT_REJECT = "soft_reject"
    BONUS = "bonus"
    BLOCK = "block"
    UNBLOCK = "unblock"
    GRANT = "grant"
    REVOKE = "revoke"


# The review decisions: a unit's agent gets at most one in force (a rejection
# overridden by a later approval stays on record, marked `overridden_at`).
DECISION_ACTIONS = (ReviewAction.APPROVE, ReviewAction.REJECT, ReviewAction.SOFT_REJECT)


class WorkerReview(models.Model):
    """Audit row for every review decision, grant, revoke and block: who, when, why."""

    # Indexed by workerreview_worker_idx (worker, -created_at), not on its own.
    worker = models.ForeignKey(
        "tasks_app.Worker",
        on_delete=models.CASCADE,
        related_name="reviews",
        db_index=False,
    )
    action = models.CharField(max_length=16, choices=ReviewAction.choices)
    unit = models.ForeignKey(
        "tasks_app.Unit",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reviews",
    )
    # The attempt a decision or bonus is about (a unit may have a late one too).
    agent = models.ForeignKey(
        "tasks_app.Agent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reviews",
    )
    qualification = models.ForeignKey(
        Qualification,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reviews",
    )
    value = models.IntegerField(null=True, blank=True)
    amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # A rejection undone by a later approval (MTurk's OverrideRejection): kept
    # for the record, no longer the agent's decision.
    overridden_at = models.DateTimeField(null=True, blank=True)
    # An approval that overrides the agent's rejection (sent to the provider so).
    overrides_rejection = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["-pk"]
        indexes = [
            # A worker's history, newest first (worker admin page).
            models.Index(
                fields=["worker", "-created_at"], name="workerreview_worker_idx"
            ),
            # The resend sweep: recent reviews whose provider call never ran.
            models.Index(fields=["created_at"], name="workerreview_created_idx"),
        ]
        constraints = [
            # One decision in force per agent, whoever races to make it.
            models.UniqueConstraint(
                fields=["agent"],
                condition=models.Q(
                    agent__isnull=False,
                    action__in=list(DECISION_ACTIONS),
                    overridden_at__isnull=True,
                ),
                name="workerreview_one_decision_per_agent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} worker {self.worker_id}"
