"""Reads worth a name, by question: `runs` (the run cache, a run as its provider
sees it, what to launch, unit counts, a worker's standing), `review` (what
awaits a decision), `money` (a run's budget and commitment), `stats` (a run's
figures), `history` (a run's family and config diff), `export` (the
results, streamed) and `data_browser` (the results for analysis in Python, as
Mephisto's DataBrowser reads them). Callers use the names re-exported here
(`selectors.cached_run`), or the module for stats, history and export
(`from tasks_app.selectors import stats`)."""

from tasks_app.selectors.data_browser import DataBrowser, DataBrowserError
from tasks_app.selectors.money import (
    CENT,
    Commitment,
    budget_of,
    run_budget,
    run_commitment,
)
from tasks_app.selectors.review import (
    REVIEW_QUEUE_STATUSES,
    agent_reviews,
    awaiting_review,
    review_queue,
    review_queue_workers,
    worker_standings,
)
from tasks_app.selectors.runs import (
    RUN_CACHE_SIZE,
    RunRow,
    cached_run,
    forget_cached_runs,
    run_allowlist,
    run_rows,
    run_spec,
    runs_stuck_launching,
    runs_with_units_to_launch,
    task_url,
    unit_counts,
    units_to_launch,
    worker_summary,
)

__all__ = [
    "CENT",
    "REVIEW_QUEUE_STATUSES",
    "RUN_CACHE_SIZE",
    "RunRow",
    "Commitment",
    "DataBrowser",
    "DataBrowserError",
    "agent_reviews",
    "awaiting_review",
    "budget_of",
    "cached_run",
    "forget_cached_runs",
    "review_queue",
    "review_queue_workers",
    "run_allowlist",
    "run_rows",
    "run_budget",
    "run_commitment",
    "run_spec",
    "runs_stuck_launching",
    "runs_with_units_to_launch",
    "task_url",
    "unit_counts",
    "units_to_launch",
    "worker_standings",
    "worker_summary",
]
