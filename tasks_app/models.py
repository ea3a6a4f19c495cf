"""Tasks, runs, assignments, units, workers, agents and payments (DESIGN §3, §8).

Status names are Mephisto's, so that exports and ported scripts keep working.
Invariants live in the database as constraints; services do the transitions.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from providers.registry import PROVIDER_CHOICES


class UnitStatus(models.TextChoices):
    CREATED = "created"
    LAUNCHED = "launched"
    ASSIGNED = "assigned"
    COMPLETED = "completed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SOFT_REJECTED = "soft_rejected"
    EXPIRED = "expired"


# A unit in one of these states is held by a worker (`Unit.worker` is set).
UNIT_HELD_STATUSES = (
    UnitStatus.ASSIGNED,
    UnitStatus.COMPLETED,
    UnitStatus.ACCEPTED,
    UnitStatus.REJECTED,
    UnitStatus.SOFT_REJECTED,
)
UNIT_FINAL_STATUSES = (
    UnitStatus.ACCEPTED,
    UnitStatus.REJECTED,
    UnitStatus.SOFT_REJECTED,
    UnitStatus.EXPIRED,
)


class AgentStatus(models.TextChoices):
    NONE = "none"
    ACCEPTED = "accepted"
    IN_TASK = "in_task"
    COMPLETED = "completed"
    APPROVED = "approved"
    REJECTED = "rejected"
    SOFT_REJECTED = "soft_rejected"
    RETURNED = "returned"
    TIMEOUT = "timeout"
    DISCONNECT = "disconnect"
    EXPIRED = "expired"


# An agent in one of these states is still working on its unit.
AGENT_LIVE_STATUSES = (AgentStatus.NONE, AgentStatus.ACCEPTED, AgentStatus.IN_TASK)
# A submission's decision made (a late one's agent may be timeout or returned
# until then, so an undecided submission is one not in these).
DECIDED_AGENT_STATUSES = (
    AgentStatus.APPROVED,
    AgentStatus.REJECTED,
    AgentStatus.SOFT_REJECTED,
)


class OnboardingStatus(models.TextChoices):
    NONE = "none"
    ONBOARDING = "onboarding"
    COMPLETED = "completed"
    APPROVED = "approved"
    REJECTED = "rejected"


class TaskRunStatus(models.TextChoices):
    LAUNCHING = "launching"
    RUNNING = "running"
    COMPLETED = "completed"
    SHUT_DOWN = "shut_down"


class Requester(models.Model):
    """Who pays: one account on one provider (Mephisto's `requester_name`)."""

    name = models.CharField(max_length=200)
    provider_type = models.CharField(max_length=32, choices=PROVIDER_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider_type", "name"], name="requester_unique_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider_type})"


class Task(models.Model):
    """Everything launched under one `task_name`; limits are counted across it."""

    task_name = models.CharField(max_length=200, unique=True)
    task_type = models.CharField(max_length=64, help_text="The blueprint type.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task_name"]

    def __str__(self) -> str:
        return self.task_name


class TaskRun(models.Model):
    """One launch of a Task, with the config it was launched with, frozen."""

    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="runs")
    requester = models.ForeignKey(
        Requester, on_delete=models.PROTECT, related_name="runs"
    )
    status = models.CharField(
        max_length=16, choices=TaskRunStatus.choices, default=TaskRunStatus.LAUNCHING
    )
    blueprint_type = models.CharField(max_length=64)
    architect_type = models.CharField(max_length=64)
    provider_type = models.CharField(max_length=32, choices=PROVIDER_CHOICES)

    # The config exactly as given, the overrides, what they resolved to, and a
    # hash of the resolved config (equal hashes = identical launches).
    config_path = models.CharField(max_length=500, blank=True)
    config_yaml = models.TextField()
    config_overrides = models.JSONField(default=list, blank=True)
    resolved_config = models.JSONField()
    config_hash = models.CharField(max_length=64, db_index=True)
    # Requirements (from the config and the build_shared_state hook) and the rest
    # of what the hook returned (onboarding_data, ...), as launched.
    qualifications = models.JSONField(default=list, blank=True)
    shared_state = models.JSONField(default=dict, blank=True)

    # Copied out of the config because the platform queries them.
    task_title = models.CharField(max_length=500)
    task_description = models.TextField()
    task_reward = models.DecimalField(max_digits=10, decimal_places=2)
    task_tags = models.CharField(max_length=500, blank=True)
    assignment_duration_in_seconds = models.PositiveIntegerField()
    allowed_concurrent = models.PositiveIntegerField(help_text="0 = unlimited")
    maximum_units_per_worker = models.PositiveIntegerField(help_text="0 = unlimited")
    max_num_concurrent_units = models.PositiveIntegerField(help_text="0 = unlimited")
    no_submission_patience = models.PositiveIntegerField()

    created_at = models.DateTimeField(auto_now_add=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    # When and why the run became completed or shut_down.
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(task_reward__gte=0), name="taskrun_reward_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk}"


class Assignment(models.Model):
    """One data row of a run; its units are the worker slots for that row.

    The status of an assignment is derived from its units and never stored. A
    quality unit (screening or gold, made for one worker) has an assignment of
    its own with a negative `row_index`: not a data row.
    """

    run = models.ForeignKey(
        TaskRun, on_delete=models.CASCADE, related_name="assignments"
    )
    row_index = models.IntegerField()
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["run", "row_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "row_index"], name="assignment_row_unique_per_run"
            ),
        ]

    def __str__(self) -> str:
        return f"Assignment {self.pk} (run {self.run_id}, row {self.row_index})"


class Worker(models.Model):
    """A crowd worker as a provider names them. MTurk sandbox names end `_sandbox`."""

    provider_type = models.CharField(max_length=32, choices=PROVIDER_CHOICES)
    worker_name = models.CharField(max_length=200)
    # The local blocklist: a blocked worker gets no work from any run.
    is_blocked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider_type", "worker_name"], name="worker_unique_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.worker_name} ({self.provider_type})"


class Unit(models.Model):
    """One worker slot of an assignment; negative `unit_index` = screening/gold."""

    # No index of their own: the assignment's units are found through
    # unit_index_unique_per_assignment, a run's through unit_claim_order_idx and a
    # worker's through unit_one_per_worker_per_assignment (each leads with the
    # column). Fewer indexes make each claim and submit a cheaper write.
    assignment = models.ForeignKey(
        Assignment, on_delete=models.CASCADE, related_name="units", db_index=False
    )
    # Denormalised from the assignment: the claim query filters units by run.
    run = models.ForeignKey(
        TaskRun, on_delete=models.CASCADE, related_name="units", db_index=False
    )
    unit_index = models.IntegerField()
    status = models.CharField(
        max_length=16, choices=UnitStatus.choices, default=UnitStatus.CREATED
    )
    worker = models.ForeignKey(
        Worker,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="units",
        db_index=False,
    )
    pay_amount = models.DecimalField(max_digits=10, decimal_places=2)
    # The provider's id for this unit (an MTurk HIT id), once launched there.
    provider_unit_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            # Claiming: a run's launched units in (unit_index, pk) order, straight
            # from the index, so LIMIT 1 stops at the first free row at any size.
            models.Index(
                fields=["run", "status", "unit_index", "id"],
                name="unit_claim_order_idx",
            ),
            # Claiming the unit of the HIT an MTurk worker arrived through; units
            # with no provider id (the mock's) stay out of it.
            models.Index(
                fields=["run", "provider_unit_id"],
                condition=~Q(provider_unit_id=""),
                name="unit_provider_unit_idx",
            ),
            # The admin's units list of a run, in id order: a page is the first
            # rows of this index (LIMIT stops there) however many units the run
            # has; the claim index's order (status first) would sort them all.
            models.Index(fields=["run", "id"], name="unit_run_list_idx"),
        ]
        permissions = [
            ("review_unit", "Can approve, reject and soft-reject units and pay bonuses")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "unit_index"],
                name="unit_index_unique_per_assignment",
            ),
            # Worker first: it also serves "this worker's units" (the claim's
            # NOT EXISTS, limits), and stays cheap under stale planner statistics.
            models.UniqueConstraint(
                fields=["worker", "assignment"],
                condition=Q(worker__isnull=False),
                name="unit_one_per_worker_per_assignment",
            ),
            models.CheckConstraint(
                condition=Q(worker__isnull=False)
                | ~Q(status__in=[s.value for s in UNIT_HELD_STATUSES]),
                name="unit_held_has_worker",
            ),
            models.CheckConstraint(
                condition=Q(worker__isnull=True)
                | ~Q(status__in=[UnitStatus.CREATED, UnitStatus.LAUNCHED]),
                name="unit_free_has_no_worker",
            ),
            models.CheckConstraint(
                condition=Q(pay_amount__gte=0), name="unit_pay_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"Unit {self.pk} ({self.status})"


class AgentQuerySet(models.QuerySet):
    def overdue(self, now) -> AgentQuerySet:
        """Live agents whose time to submit has run out."""
        return self.filter(status__in=AGENT_LIVE_STATUSES, deadline_at__lt=now)


class Agent(models.Model):
    """A worker's attempt at a unit. `public_id` is the worker's capability."""

    # Unique through agent_public_id_unique (a plain unique index: ids are never
    # searched by prefix, so no LIKE index).
    public_id = models.CharField(max_length=64)
    # PROTECT: a worker's attempt (and any submission) outlives no deletion of
    # its unit or run; deleting them fails instead (the admin says why).
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="agents")
    worker = models.ForeignKey(Worker, on_delete=models.PROTECT, related_name="agents")
    # A run's agents are found through agent_registration_unique_per_run.
    run = models.ForeignKey(
        TaskRun, on_delete=models.PROTECT, related_name="agents", db_index=False
    )
    status = models.CharField(
        max_length=16, choices=AgentStatus.choices, default=AgentStatus.NONE
    )
    # The page's `agent_registration_id`: registering again returns this agent.
    registration_id = models.CharField(max_length=200)
    provider_assignment_id = models.CharField(max_length=200, blank=True)
    submission = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    # Submitted after the agent timed out: kept, and flagged for review.
    is_late = models.BooleanField(default=False)
    # Recorded by the recovery sweep from the provider's listing: the task page
    # never reported it, so the worker may never have seen the task. Paid only
    # by a person deciding on it alone, never in bulk or automatically.
    from_provider_listing = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    deadline_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        indexes = [
            # The timeout sweep: a run's live agents by deadline. A submitted
            # agent leaves it, so a submission writes one index entry fewer.
            models.Index(
                fields=["run", "deadline_at"],
                condition=Q(status__in=[s.value for s in AGENT_LIVE_STATUSES]),
                name="agent_live_deadline_idx",
            ),
            # Who arrived with a provider's assignment id (the arrival check,
            # the recovery sweep); the mock's agents have none.
            models.Index(
                fields=["run", "provider_assignment_id"],
                condition=~Q(provider_assignment_id=""),
                name="agent_provider_assignment_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["unit"],
                condition=Q(status__in=[s.value for s in AGENT_LIVE_STATUSES]),
                name="agent_one_live_per_unit",
            ),
            models.UniqueConstraint(
                fields=["run", "registration_id"],
                name="agent_registration_unique_per_run",
            ),
            models.UniqueConstraint(
                fields=["public_id"], name="agent_public_id_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Agent {self.pk} ({self.status})"


class LiveCall(models.Model):
    """One call a live task's page made to a hooks function, and its answer.

    Kept with the agent in the order the calls arrived (by pk), as Mephisto's
    RemoteProcedureAgentState keeps its requests. `response` is what the
    function returned (JSON; null for None or before the answer); a call that
    failed has `error` (plain words) and `error_kind` instead.
    """

    # An agent's calls are found through livecall_request_unique_per_agent.
    agent = models.ForeignKey(
        Agent, on_delete=models.PROTECT, related_name="live_calls", db_index=False
    )
    # The page's `request_id`: a packet sent twice is answered once.
    request_id = models.CharField(max_length=64)
    target = models.CharField(max_length=200)
    # The call's arguments as the page sent them (parsed JSON; the raw text when
    # it wasn't JSON).
    args = models.JSONField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    error_kind = models.CharField(max_length=32, blank=True, default="")
    requested_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "request_id"], name="livecall_request_unique_per_agent"
            ),
        ]

    def __str__(self) -> str:
        return f"Live call {self.pk} ({self.target})"


class OnboardingAgent(models.Model):
    """A worker's attempt at a run's onboarding. Public ids start `onboarding`."""

    public_id = models.CharField(max_length=64, unique=True)
    run = models.ForeignKey(
        TaskRun, on_delete=models.CASCADE, related_name="onboarding_agents"
    )
    worker = models.ForeignKey(
        Worker, on_delete=models.PROTECT, related_name="onboarding_agents"
    )
    status = models.CharField(
        max_length=16, choices=OnboardingStatus.choices, default=OnboardingStatus.NONE
    )
    registration_id = models.CharField(max_length=200)
    # Kept for the agent created after onboarding (MTurk's assignment and HIT).
    provider_assignment_id = models.CharField(max_length=200, blank=True)
    provider_unit_id = models.CharField(max_length=200, blank=True)
    submission = models.JSONField(null=True, blank=True)
    # Error reports from the page (`/log_error`), as an agent keeps them.
    metadata = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "registration_id"],
                name="onboardingagent_registration_unique_per_run",
            ),
            models.CheckConstraint(
                condition=Q(public_id__startswith="onboarding"),
                name="onboardingagent_public_id_prefix",
            ),
        ]

    def __str__(self) -> str:
        return f"Onboarding agent {self.pk} ({self.status})"


class PaymentKind(models.TextChoices):
    REWARD = "reward"
    BONUS = "bonus"
    # The provider's commission on a reward or bonus (MTurk 20%, Prolific's rate).
    FEE = "fee"


class PaymentState(models.TextChoices):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    # The provider may or may not have paid (a lost answer): reconcile, never resend.
    AMBIGUOUS = "ambiguous"


class Payment(models.Model):
    """A row of the money ledger: one payment (reward, bonus or fee) for one agent.

    `idempotency_key` names the logical payment ("reward:agent=12"); it is unique,
    and the provider call that pays it carries it, so nothing is paid twice.
    """

    kind = models.CharField(max_length=8, choices=PaymentKind.choices)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    # run and unit are indexed by the (run, kind) and (unit, kind) indexes.
    run = models.ForeignKey(
        TaskRun, on_delete=models.PROTECT, related_name="payments", db_index=False
    )
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="payments", db_index=False
    )
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="payments")
    worker = models.ForeignKey(
        Worker, on_delete=models.PROTECT, related_name="payments"
    )
    # The decision or bonus (its audit row) that pays it; its provider call pays.
    review = models.ForeignKey(
        "qualifications_app.WorkerReview",
        on_delete=models.PROTECT,
        related_name="payments",
    )
    state = models.CharField(
        max_length=12, choices=PaymentState.choices, default=PaymentState.PENDING
    )
    idempotency_key = models.CharField(max_length=200, unique=True)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    provider_response = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            # A run's spend and a unit's bonuses.
            models.Index(fields=["run", "kind"], name="payment_run_kind_idx"),
            models.Index(fields=["unit", "kind"], name="payment_unit_kind_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="payment_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} ({self.state})"


class IdempotentRequest(models.Model):
    """A requester API POST sent with an `Idempotency-Key`, and its answer: the
    same key again (from the same user) gets this answer and does nothing more
    (docs/api.md). Kept in the transaction of the work it answers."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False
    )
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    # SHA-256 of the body: the same key with another body is refused.
    body_digest = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"], name="idempotentrequest_key_unique_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"
