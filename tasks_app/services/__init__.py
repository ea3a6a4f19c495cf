"""Every write to tasks, runs, assignments, units and agents, by workflow.

`launch` writes a run and launches its units, `arrival` gives an arriving
worker an agent, `work` takes what the worker sends, `recovery` what a provider
lists that the page failed to send, `review` decides on it and pays,
`lifecycle` ends the run. Callers use the names re-exported here
(`services.launch_run`), whichever module holds them.
"""

from tasks_app.exceptions import WorkerRequestError
from tasks_app.hooks import run_hooks
from tasks_app.services.arrival import (
    AgentDetails,
    claim_unit,
    forget_sweeps,
    new_agent_id,
    refuse_forged_arrival,
    register_agent,
    submit_onboarding,
)
from tasks_app.services.launch import (
    LaunchPlan,
    automatic_qualification_names,
    check_requirements_exist,
    created_empty,
    launch_run,
    launch_units,
    mark_run_running,
    mark_units_launched,
    plan_launch,
    requester_name_for,
    stored_config_text,
    with_balance,
)
from tasks_app.services.lifecycle import (
    Shutdown,
    complete_finished_runs,
    end_run_on_provider,
    expire_units_on_provider,
    shut_down_stale_runs,
    shutdown_run,
)
from tasks_app.services.recovery import (
    Recovered,
    free_abandoned_units,
    recover_submissions,
    runs_to_poll,
)
from tasks_app.services.review import (
    SEND_BATCH,
    BulkApproval,
    Decision,
    approve_unit,
    approve_units,
    auto_approve_due,
    block_from_review,
    pay_bonus,
    reconcile_lost_bonuses,
    reject_unit,
    send_review,
    soft_reject_unit,
    stalled_reviews,
)
from tasks_app.services.work import (
    completion_code,
    expire_agent,
    expire_overdue_agents,
    find_agent,
    log_agent_error,
    return_agent,
    return_unit,
    submit_metadata,
    submit_unit,
)
from tasks_app.uploads import SavedFile

__all__ = [
    "Recovered",
    "recover_submissions",
    "free_abandoned_units",
    "runs_to_poll",
    "Shutdown",
    "complete_finished_runs",
    "end_run_on_provider",
    "expire_units_on_provider",
    "shut_down_stale_runs",
    "shutdown_run",
    "SEND_BATCH",
    "AgentDetails",
    "BulkApproval",
    "Decision",
    "approve_unit",
    "approve_units",
    "auto_approve_due",
    "block_from_review",
    "pay_bonus",
    "reconcile_lost_bonuses",
    "stalled_reviews",
    "reject_unit",
    "send_review",
    "soft_reject_unit",
    "LaunchPlan",
    "SavedFile",
    "WorkerRequestError",
    "automatic_qualification_names",
    "check_requirements_exist",
    "created_empty",
    "claim_unit",
    "expire_agent",
    "expire_overdue_agents",
    "find_agent",
    "forget_sweeps",
    "launch_run",
    "launch_units",
    "log_agent_error",
    "mark_run_running",
    "mark_units_launched",
    "new_agent_id",
    "plan_launch",
    "refuse_forged_arrival",
    "completion_code",
    "register_agent",
    "requester_name_for",
    "return_agent",
    "return_unit",
    "run_hooks",
    "stored_config_text",
    "with_balance",
    "submit_metadata",
    "submit_onboarding",
    "submit_unit",
]
