"""Mephisto's remote_procedure template run script (run_task.py), ported.

What `main()` built in the run script lives here at module level:
`build_tasks` and `build_local_context` as they were, the tasks handed to the
run by `build_shared_state` (the run script's `static_task_data=tasks`),
`onboarding_always_valid` as `validate_onboarding`, and `handle_with_model`
with the `function_registry` naming it. The Hydra, database and Operator set-up
is crowdsite's `launch_run`; the config stays the template's
`hydra_configs/conf/launch_with_local.yaml`, with this module named by the
override `mephisto.blueprint.hooks=hooks.py`.
"""

from __future__ import annotations

from typing import Any


def build_tasks(num_tasks: int) -> list[dict[str, Any]]:
    """The units' inputs (Mephisto's init_data): an index and a context key."""
    return [{"index": x, "local_value_key": x} for x in range(num_tasks)]


def build_local_context(num_tasks: int) -> dict[int, str]:
    """Values the server functions may use but the page never sees."""
    return {x: f"Hello {x}, this task was for you." for x in range(num_tasks)}


num_tasks = 2
context = build_local_context(num_tasks)


def build_shared_state(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"static_task_data": build_tasks(num_tasks)}


def validate_onboarding(onboarding_data: dict[str, Any]) -> bool:
    # The template has no onboarding; any would pass.
    return True


def handle_with_model(
    _request_id: str, args: dict[str, Any], agent_state: Any
) -> dict[str, Any]:
    """Answer the page's "Query Backend" with the unit's secret local value."""
    assert agent_state.init_data is not None
    idx = agent_state.init_data["local_value_key"]
    return {
        "secret_local_value": context[idx],
        "update": f"this was request {args['arg3'] + 1}",
    }


function_registry = {"handle_with_model": handle_with_model}
