"""Who may work on a run, and why not (DESIGN §6, steps 3-5).

`ARRIVAL_RULES` lists each rule once, in the order an arrival checks them; for a
run, `arrival_rules(run)` gives each as a `Rule` with its Python verdict, the
reason worded for the worker, and its SQL term for the one-statement arrival
(`worker_sql.claim_on_arrival`). The arrival under the worker's lock
(`services.arrival`), that statement, `explain()` and the tests all read the list.
`failure_reason` on the task page is the first failed verdict; `explain()` lists
every rule for requesters wondering why a worker sees no work.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from qualifications_app.models import GrantedQualification
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

NO_UNITS_LEFT = "There are no units left in this task for you right now."
NOT_RUNNING = "This task is not accepting work right now."
RUN_ENDED = "There are no units left in this task: it has ended."
FAILED_ONBOARDING = (
    "You did not pass the onboarding for this task, so you can't work on it."
)
NO_SCREENING_LEFT = (
    "This task is not taking new workers right now: its screening places are "
    "all in use. Please try again later."
)
NO_GOLDS_LEFT = (
    "This task is not taking new workers right now: it has no check units "
    "left to give. Please try again later."
)
DISQUALIFIED_BY_GOLDS = (
    "You answered too many of this task's check questions wrongly, so you can't "
    "work on it any more."
)


@dataclass(frozen=True)
class Verdict:
    rule: str
    passed: bool
    reason: str = ""
    # Passed, but the worker is given an onboarding before any unit.
    onboard: bool = False
    # Passed, but the worker is given a quality unit of this index (screening,
    # gold) made for them rather than a unit of the run's data.
    quality: int | None = None


def failed_onboarding_name(onboarding: str) -> str:
    """The qualification a worker who failed `onboarding` is given (Mephisto's
    `<onboarding_qualification>-failed`), which the automatic rule refuses."""
    return f"{onboarding}-failed"


def automatic_qualification_names(blueprint: dict[str, Any]) -> list[str]:
    """The qualifications the platform manages for a run of `blueprint` (its
    onboarding pass and fail, its block), created at launch."""
    names = []
    onboarding = blueprint.get("onboarding_qualification")
    if onboarding:
        names += [onboarding, failed_onboarding_name(onboarding)]
    block = blueprint.get("block_qualification")
    if block:
        names.append(block)
    return names


def onboarding_qualification(run: TaskRun) -> str | None:
    return (
        run.resolved_config.get("mephisto", {})
        .get("blueprint", {})
        .get("onboarding_qualification")
    )


def requirements(run: TaskRun) -> list[dict[str, Any]]:
    """The run's qualification requirements, with the automatic ones added."""
    blueprint = run.resolved_config.get("mephisto", {}).get("blueprint", {})
    automatic = []
    if blueprint.get("block_qualification"):
        automatic.append(
            {
                "qualification_name": blueprint["block_qualification"],
                "comparator": "DoesNotExist",
                "value": None,
                "applicable_providers": None,
                "automatic": "block",
            }
        )
    onboarding = blueprint.get("onboarding_qualification")
    if onboarding:
        automatic.append(
            {
                "qualification_name": failed_onboarding_name(onboarding),
                "comparator": "DoesNotExist",
                "value": None,
                "applicable_providers": None,
                "automatic": "onboarding",
            }
        )
    applicable = [
        r
        for r in run.qualifications
        if not r.get("applicable_providers")
        or run.provider_type in r["applicable_providers"]
    ]
    return automatic + applicable


def grant_values(*, worker: Worker, names: Iterable[str]) -> dict[str, int]:
    """The worker's values for the named qualifications (absent = not granted)."""
    names = list(names)
    if worker.pk is None or not names:  # a worker never seen holds nothing
        return {}
    return dict(
        GrantedQualification.objects.filter(
            worker=worker, qualification__name__in=names
        ).values_list("qualification__name", "value")
    )


@dataclass(frozen=True)
class Comparator:
    """A value comparator of a requirement: Python test, words, SQL on `g.value`."""

    words: str  # "Your '<name>' value (<v>) must be <words> <value>."
    passes: Callable[[Any, Any], bool]  # (the worker's value, the required value)
    sql: str  # %s is the required value
    listed: bool = False  # the required value is a list


def _is_in(mine: Any, value: Any) -> bool:
    return mine in value


def _is_not_in(mine: Any, value: Any) -> bool:
    return mine not in value


# MTurk's comparators that compare a value; a worker not holding the
# qualification fails each of them.
VALUE_COMPARATORS: dict[str, Comparator] = {
    "EqualTo": Comparator("equal to", operator.eq, "= %s"),
    "NotEqualTo": Comparator("different from", operator.ne, "<> %s"),
    "GreaterThan": Comparator("more than", operator.gt, "> %s"),
    "GreaterThanOrEqualTo": Comparator("at least", operator.ge, ">= %s"),
    "LessThan": Comparator("less than", operator.lt, "< %s"),
    "LessThanOrEqualTo": Comparator("at most", operator.le, "<= %s"),
    "In": Comparator("one of", _is_in, "= ANY(%s)", listed=True),
    "NotIn": Comparator("none of", _is_not_in, "<> ALL(%s)", listed=True),
}
COMPARATORS: tuple[str, ...] = ("Exists", "DoesNotExist", *VALUE_COMPARATORS)


def check_requirement(requirement: dict[str, Any], held: dict[str, int]) -> Verdict:
    name = requirement["qualification_name"]
    comparator = requirement["comparator"]
    # Launch checked that a comparator needing a value has one.
    value: Any = requirement.get("value")
    has = name in held
    mine: Any = held.get(name)
    rule = f"qualification {name} {comparator}" + (
        f" {value}" if value is not None else ""
    )
    if requirement.get("automatic") == "block":
        return Verdict(rule, not has, "You are blocked from working on this task.")
    if requirement.get("automatic") == "onboarding":
        return Verdict(
            rule,
            not has,
            FAILED_ONBOARDING,
        )
    if comparator == "Exists":
        return Verdict(rule, has, f"This task needs the qualification '{name}'.")
    if comparator == "DoesNotExist":
        return Verdict(
            rule,
            not has,
            f"This task is only for workers without the qualification '{name}'.",
        )
    if not has:
        return Verdict(rule, False, f"This task needs the qualification '{name}'.")
    compare = VALUE_COMPARATORS[comparator]
    shown = ", ".join(str(v) for v in value) if compare.listed else value
    return Verdict(
        rule,
        compare.passes(mine, value),
        f"Your '{name}' value ({mine}) must be {compare.words} {shown}.",
    )


def requirement_sql(requirement: dict[str, Any]) -> tuple[str, list[Any]]:
    """The SQL term that passes exactly when `check_requirement` does."""
    name, comparator = requirement["qualification_name"], requirement["comparator"]
    if requirement.get("automatic") or comparator == "DoesNotExist":
        return "NOT " + _holds(), [name]
    if comparator == "Exists":
        return _holds(), [name]
    compare = VALUE_COMPARATORS[comparator]
    value: Any = requirement.get("value")
    if compare.listed:
        value = list(value)
    return _holds(f" AND g.value {compare.sql}"), [name, value]


def _holds(condition: str = "") -> str:
    """SQL: worker `w` holds the qualification named by the next parameter."""
    return (
        "EXISTS (SELECT 1 FROM {granted} g"
        " JOIN {qualification} q ON q.id = g.qualification_id"
        f" WHERE g.worker_id = (SELECT id FROM w) AND q.name = %s{condition})"
    )


def live_units_in_run(*, run: TaskRun, worker: Worker) -> int:
    if worker.pk is None:
        return 0
    return Unit.objects.filter(
        run=run, worker=worker, status=UnitStatus.ASSIGNED
    ).count()


def units_in_task(*, run: TaskRun, worker: Worker) -> int:
    """Units this worker holds or finished in every run sharing the task_name."""
    if worker.pk is None:
        return 0
    return Unit.objects.filter(
        run__task_id=run.task_id,
        worker=worker,
        status__in=UNIT_HELD_STATUSES,
        unit_index__gte=0,  # quality units are not the task's data
    ).count()


def onboarding_state(name: str, held: dict[str, int]) -> str:
    """'passed', 'failed' or 'needed', from the worker's values for `name`."""
    if failed_onboarding_name(name) in held or held.get(name) == 0:
        return "failed"
    if held.get(name, 0) >= 1:
        return "passed"
    return "needed"


def first_failure(verdicts: Iterable[Verdict]) -> Verdict | None:
    return next((v for v in verdicts if not v.passed), None)


# ---------------------------------------------------------------------------
# The rule list
# ---------------------------------------------------------------------------


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
            names.add(screening.passed_name)
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
    return [Rule("onboarding", verdict, _holds(" AND g.value >= 1"), (name,))]


def _screening(run: TaskRun) -> list[Rule]:
    screening = quality.screening_of(run)
    if screening is None:
        return []

    def verdict(facts: Facts) -> Verdict:
        # A worker screened and blocked is refused by the automatic block
        # requirement (block_qualification DoesNotExist) before this rule.
        if screening.passed_name in facts.held:
            return Verdict("screening: passed", True)
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
    return [Rule("screening", verdict, _holds(), (screening.passed_name,))]


def _golds(run: TaskRun) -> list[Rule]:
    golds = quality.golds_of(run)
    if golds is None:
        return []

    def verdict(facts: Facts) -> Verdict:
        record = quality.record_from(facts.held, golds)
        judged = record.correct + record.wrong
        if record.disqualified or not quality.worker_qualifies(
            record.completed, record.correct, record.wrong, golds.max_incorrect
        ):
            return Verdict(
                f"disqualified by golds: {record.wrong} wrong of {judged}",
                False,
                DISQUALIFIED_BY_GOLDS,
            )
        needs = quality.worker_needs_gold(
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
