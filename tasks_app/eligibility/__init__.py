"""Who may work on a run, and why not (DESIGN §6, steps 3-5).

`ARRIVAL_RULES` lists each rule once, in the order an arrival checks them; for a
run, `arrival_rules(run)` gives each as a `Rule` with its Python verdict, the
reason worded for the worker, and its SQL term for the one-statement arrival
(`worker_sql.claim_on_arrival`). The arrival under the worker's lock
(`services.arrival`), that statement, `explain()` and the tests all read the list.
`failure_reason` on the task page is the first failed verdict; `explain()` lists
every rule for requesters wondering why a worker sees no work.
"""

from tasks_app.eligibility.requirements import (
    COMPARATORS,
    DISQUALIFIED_BY_GOLDS,
    FAILED_ONBOARDING,
    NO_GOLDS_LEFT,
    NO_SCREENING_LEFT,
    NO_UNITS_LEFT,
    NOT_RUNNING,
    RUN_ENDED,
    VALUE_COMPARATORS,
    Comparator,
    Verdict,
    automatic_qualification_names,
    check_requirement,
    failed_onboarding_name,
    first_failure,
    grant_values,
    live_units_in_run,
    onboarding_qualification,
    onboarding_state,
    requirement_sql,
    requirements,
    units_in_task,
)
from tasks_app.eligibility.rules import (
    ARRIVAL_RULES,
    Eligibility,
    Facts,
    Rule,
    RuleKind,
    arrival_rules,
    explain,
)

__all__ = [
    "ARRIVAL_RULES",
    "COMPARATORS",
    "Comparator",
    "DISQUALIFIED_BY_GOLDS",
    "Eligibility",
    "FAILED_ONBOARDING",
    "Facts",
    "NOT_RUNNING",
    "NO_GOLDS_LEFT",
    "NO_SCREENING_LEFT",
    "NO_UNITS_LEFT",
    "RUN_ENDED",
    "Rule",
    "RuleKind",
    "VALUE_COMPARATORS",
    "Verdict",
    "arrival_rules",
    "automatic_qualification_names",
    "check_requirement",
    "explain",
    "failed_onboarding_name",
    "first_failure",
    "grant_values",
    "live_units_in_run",
    "onboarding_qualification",
    "onboarding_state",
    "requirement_sql",
    "requirements",
    "units_in_task",
]
