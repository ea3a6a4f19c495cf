"""The rule list: each rule of DESIGN §6 once, with its Python verdict, the
reason worded for the worker and its SQL term; `Eligibility` for one worker
against one run, and `explain()`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from tasks_app.eligibility.requirements import (
    DISQUALIFIED_BY_GOLDS,
    FAILED_ONBOARDING,
    NO_GOLDS_LEFT,
    NO_SCREENING_LEFT,
    NO_UNITS_LEFT,
    NOT_RUNNING,
    RUN_ENDED,
    Verdict,
    check_requirement,
    failed_onboarding_name,
    first_failure,
    grant_values,
    holds_sql,
    live_units_in_run,
    onboarding_qualification,
    onboarding_state,
    requirement_sql,
    requirements,
    units_in_task,
)
from tasks_app.models import (
    UNIT_HELD_STATUSES,
    OnboardingAgent,
    OnboardingStatus,
    TaskRun,
    TaskRunStatus,
    Unit,
    UnitStatus,
    Worker,
)
from tasks_app.selectors import quality


class Facts:
    """What the rules read about one worker and run, each read once, when needed."""

    def __init__(self, *, run: TaskRun, worker: Worker) -> None:
        self.run = run
        self.worker = worker

    @cached_property
    def run_status(self) -> str | None:
        # Read fresh: the worker API keeps its runs per process.
        return (
            TaskRun.objects.filter(pk=self.run.pk)
            .values_list("status", flat=True)
            .first()
        )

    @cached_property
    def held(self) -> dict[str, int]:
        """The worker's values for every qualification the rules name."""
        names = {r["qualification_name"] for r in requirements(self.run)}
        onboarding = onboarding_qualification(self.run)
        if onboarding:
            names |= {onboarding, failed_onboarding_name(onboarding)}
        screening = quality.screening_of(self.run)
        if screening is not None:
            names |= {screening.passed_name, screening.blocked_name}
        golds = quality.golds_of(self.run)
        if golds is not None:
            names |= set(golds.counter_names)
        return grant_values(worker=self.worker, names=names)

    @cached_property
    def screenings_made(self) -> int:
        return self._quality_units(quality.SCREENING_UNIT_INDEX)

    @cached_property
    def golds_made(self) -> int:
        return self._quality_units(quality.GOLD_UNIT_INDEX)

    def _quality_units(self, kind: int) -> int:
        """The run's quality units of `kind`, those that expired (gave their
        place back under the cap) left out."""
        return (
            Unit.objects.filter(run=self.run, unit_index=kind)
            .exclude(status=UnitStatus.EXPIRED)
            .count()
        )

    @cached_property
    def live_units(self) -> int:
        return live_units_in_run(run=self.run, worker=self.worker)

    @cached_property
    def units_in_task(self) -> int:
        return units_in_task(run=self.run, worker=self.worker)


@dataclass(frozen=True)
class Rule:
    """One rule as it applies to one run.

    `verdict` is the Python path's answer for a worker. `sql` is the same rule
    as a condition on the worker `w` of the one-statement arrival: true exactly
    when the verdict passes without a word to the worker (offering an onboarding
    is a word), with `params` for its %s and the tables written {run}, {unit},
    {granted} and {qualification} for `worker_sql` to name; None when the
    verdict can't fail for this run.
    """

    kind: str  # the name of its entry in ARRIVAL_RULES
    verdict: Callable[[Facts], Verdict]
    sql: str | None = None
    params: tuple[Any, ...] = ()
    # It counts the worker's units: only a check made after their row lock
    # sees the units their other requests just took.
    counts_units: bool = False
    # The claim checks it itself (it takes only a running run's units), so an
    # arrival reads the verdict only when it is not going to claim.
    checked_by_claim: bool = False


def _running(run: TaskRun) -> list[Rule]:
    def verdict(facts: Facts) -> Verdict:
        status = facts.run_status
        ended = status in (TaskRunStatus.COMPLETED, TaskRunStatus.SHUT_DOWN)
        return Verdict(
            f"run status {status}",
            status == TaskRunStatus.RUNNING,
            RUN_ENDED if ended else NOT_RUNNING,
        )

    return [
        Rule(
            "running",
            verdict,
            sql="EXISTS (SELECT 1 FROM {run} WHERE id = %s AND status = %s)",
            params=(run.pk, TaskRunStatus.RUNNING),
            checked_by_claim=True,
        )
    ]


def _not_blocked(run: TaskRun) -> list[Rule]:
    def verdict(facts: Facts) -> Verdict:
        return Verdict(
            "not on the local blocklist",
            not facts.worker.is_blocked,
            "You are blocked from working on this requester's tasks.",
        )

    return [Rule("blocklist", verdict, sql="NOT (SELECT is_blocked FROM w)")]


def _requirements(run: TaskRun) -> list[Rule]:
    rules = []
    for requirement in requirements(run):
        sql, params = requirement_sql(requirement)

        def verdict(facts: Facts, requirement: dict[str, Any] = requirement) -> Verdict:
            return check_requirement(requirement, facts.held)

        rules.append(Rule("qualification", verdict, sql=sql, params=tuple(params)))
    return rules


def _allowed_concurrent(run: TaskRun) -> list[Rule]:
    limit = run.allowed_concurrent
    if not limit:
        return []

    def verdict(facts: Facts) -> Verdict:
        live = facts.live_units
        return Verdict(
            f"allowed_concurrent {limit} (has {live} open)",
            live < limit,
            f"You already have {live} unit(s) of this task open; submit them first.",
        )

    sql = (
        "(SELECT count(*) FROM {unit} m WHERE m.worker_id = (SELECT id FROM w)"
        " AND m.run_id = %s AND m.status = %s) < %s"
    )
    params = (run.pk, UnitStatus.ASSIGNED, limit)
    return [Rule("allowed_concurrent", verdict, sql, params, counts_units=True)]


def _maximum_units_per_worker(run: TaskRun) -> list[Rule]:
    limit = run.maximum_units_per_worker
    if not limit:
        return []

    def verdict(facts: Facts) -> Verdict:
        done = facts.units_in_task
        return Verdict(
            f"maximum_units_per_worker {limit} "
            f"(has {done} in task '{run.task.task_name}')",
            done < limit,
            f"You have reached the maximum of {limit} units for this task.",
        )

    held = ", ".join(["%s"] * len(UNIT_HELD_STATUSES))
    sql = (
        "(SELECT count(*) FROM {unit} m WHERE m.worker_id = (SELECT id FROM w)"
        f" AND m.status IN ({held}) AND m.unit_index >= 0 AND m.run_id IN"
        " (SELECT id FROM {run} WHERE task_id = %s)) < %s"
    )
    params = (*UNIT_HELD_STATUSES, run.task_id, limit)
    return [Rule("maximum_units_per_worker", verdict, sql, params, counts_units=True)]


def _onboarding(run: TaskRun) -> list[Rule]:
    name = onboarding_qualification(run)

    def verdict(facts: Facts) -> Verdict:
        state = onboarding_state(name, facts.held) if name else "none"
        return Verdict(
            f"onboarding: {state}",
            state != "failed",
            FAILED_ONBOARDING,
            onboard=state == "needed",
        )

    if not name:
        return [Rule("onboarding", verdict)]
    # Passed onboarding; one not yet onboarded is offered it on the full path.
    return [Rule("onboarding", verdict, holds_sql(" AND g.value >= 1"), (name,))]


def _screening(run: TaskRun) -> list[Rule]:
    screening = quality.screening_of(run)
    if screening is None:
        return []

    def verdict(facts: Facts) -> Verdict:
        # A worker screened and blocked is refused by the automatic block
        # requirement (block_qualification DoesNotExist) before this rule.
        if screening.passed_name in facts.held:
            return Verdict("screening: passed", True)
        if screening.blocked_name in facts.held:
            return Verdict(
                "screening: failed", False, "You are blocked from working on this task."
            )
        if screening.on_real_units:
            return Verdict("screening: judged on their first unit", True)
        made = facts.screenings_made
        # Checked again when the unit is made, under the run's lock.
        return Verdict(
            f"screening: needs the screening unit ({made} of "
            f"max_screening_units {screening.max_units} in use)",
            made < screening.max_units,
            NO_SCREENING_LEFT,
            quality=quality.SCREENING_UNIT_INDEX,
        )

    if screening.on_real_units:
        return [Rule("screening", verdict)]
    # Passed screening; one not yet screened gets a screening unit on the full
    # path (made there, under the run's lock, within max_screening_units).
    return [Rule("screening", verdict, holds_sql(), (screening.passed_name,))]


def _golds(run: TaskRun) -> list[Rule]:
    golds = quality.golds_of(run)
    if golds is None:
        return []
    needs_gold, qualifies = quality.gold_rules(run)

    def verdict(facts: Facts) -> Verdict:
        record = quality.record_from(facts.held, golds)
        judged = record.correct + record.wrong
        if record.disqualified or not qualifies(
            record.completed, record.correct, record.wrong, golds.max_incorrect
        ):
            return Verdict(
                f"disqualified by golds: {record.wrong} wrong of {judged}",
                False,
                DISQUALIFIED_BY_GOLDS,
            )
        needs = needs_gold(
            record.completed, record.correct, record.wrong, golds.min_golds
        )
        left = facts.golds_made < golds.max_units
        first = record.correct < golds.min_golds
        # Past their first golds, a worker gets real units once the run's golds
        # are all out (Mephisto's should_produce_gold_for_worker); before them,
        # nothing (checked again when the unit is made, under the run's lock).
        if needs and (first or left):
            return Verdict(
                f"golds: needs a gold unit ({record.correct} right of "
                f"{golds.min_golds} needed first, {record.wrong} wrong)",
                left,
                NO_GOLDS_LEFT,
                quality=quality.GOLD_UNIT_INDEX,
            )
        return Verdict(
            f"golds: {record.correct} right, {record.wrong} wrong of {judged}", True
        )

    # Only the full path judges golds (their schedule counts the worker's real
    # units); `arrival.one_statement_applies` keeps gold runs off the statement.
    return [Rule("golds", verdict, sql="FALSE")]


@dataclass(frozen=True)
class RuleKind:
    name: str
    for_run: Callable[[TaskRun], list[Rule]]


# Every rule an arrival is checked against, in the order of DESIGN §6 and of the
# `failure_reason` table in docs/worker-protocol.md: the worker is told the
# first that fails. (Before them, a reconnect gets its agent back; after them,
# a unit is claimed.)
ARRIVAL_RULES: tuple[RuleKind, ...] = (
    RuleKind("running", _running),
    RuleKind("blocklist", _not_blocked),
    # The run's requirements, the automatic block and onboarding-failed first.
    RuleKind("qualification", _requirements),
    RuleKind("allowed_concurrent", _allowed_concurrent),
    RuleKind("maximum_units_per_worker", _maximum_units_per_worker),
    RuleKind("onboarding", _onboarding),
    # Quality units (screening, golds) after onboarding, as in Mephisto.
    RuleKind("screening", _screening),
    RuleKind("golds", _golds),
)


def arrival_rules(run: TaskRun) -> list[Rule]:
    """The rules of ARRIVAL_RULES as they apply to `run`, in order."""
    return [rule for kind in ARRIVAL_RULES for rule in kind.for_run(run)]


class Eligibility:
    """One worker against one run's rules: what the Python path acts on."""

    def __init__(self, *, run: TaskRun, worker: Worker) -> None:
        self.rules = arrival_rules(run)
        self.facts = Facts(run=run, worker=worker)

    def verdicts(self, *, checked_by_claim: bool | None = None) -> Iterator[Verdict]:
        """Each rule's verdict in order (only those the claim checks, or not)."""
        for rule in self.rules:
            if checked_by_claim is None or rule.checked_by_claim == checked_by_claim:
                yield rule.verdict(self.facts)

    def stopped(self) -> Verdict | None:
        """The first failed rule of those the claim checks (the run has stopped)."""
        return first_failure(self.verdicts(checked_by_claim=True))


def explain(*, run: TaskRun, worker: Worker) -> list[Verdict]:
    """Every rule of DESIGN §6 for this worker and run, passed or not."""
    verdicts = list(Eligibility(run=run, worker=worker).verdicts())
    # Not a rule an arrival can fail (it finds the worker under the run's
    # provider), but the first thing to rule out after the run's status.
    verdicts[1:1] = [
        Verdict(
            f"worker's provider {worker.provider_type} is the run's "
            f"({run.provider_type})",
            worker.provider_type == run.provider_type,
            f"This worker is on {worker.provider_type}; the run recruits on "
            f"{run.provider_type}, so they can never reach it.",
        )
    ]
    quality_kinds = [v.quality for v in verdicts if v.quality is not None]
    if any(v.onboard for v in verdicts):
        pending = (
            worker.pk is not None
            and OnboardingAgent.objects.filter(
                run=run, worker=worker, status=OnboardingStatus.ONBOARDING
            ).exists()
        )
        verdicts.append(
            Verdict(
                "onboarding will be shown first"
                + (" (in progress)" if pending else ""),
                True,
            )
        )
    if quality_kinds:
        # Made for them on arrival: no launched unit is needed.
        kind = quality.QUALITY_UNIT_KINDS[quality_kinds[0]]
        verdicts.append(Verdict(f"a {kind} unit will be made for them first", True))
        return verdicts
    units = Unit.objects.filter(run=run, status=UnitStatus.LAUNCHED, unit_index__gte=0)
    if worker.pk is not None:
        units = units.exclude(assignment__units__worker=worker)
    available = units.exists()
    verdicts.append(
        Verdict("a launched unit this worker hasn't done", available, NO_UNITS_LEFT)
    )
    return verdicts
