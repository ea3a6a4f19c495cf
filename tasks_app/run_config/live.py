"""Launch checks of a live task (the `remote_procedure` blueprint): its hooks
module answers the page's calls with `function_registry`, as the run script's
`SharedRemoteProcedureTaskState(function_registry=...)` did in Mephisto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crowdsite.config_errors import ConfigError
from tasks_app import hooks as task_hooks

# The longest a page's call may wait for its function (10 minutes).
MAX_REMOTE_CALL_TIMEOUT_S = 600.0


def check_live_task(resolved: dict[str, Any], task_dir: Path) -> None:
    """Refuse a remote_procedure run whose functions can't be found or whose
    time limit makes no sense. Other blueprints are left alone."""
    blueprint = resolved["mephisto"]["blueprint"]
    if blueprint["_blueprint_type"] != "remote_procedure":
        return
    timeout = blueprint.get("remote_call_timeout_s")
    if not isinstance(timeout, int | float) or not (
        0 < timeout <= MAX_REMOTE_CALL_TIMEOUT_S
    ):
        raise ConfigError(
            f"must be a number of seconds above 0 and at most "
            f"{MAX_REMOTE_CALL_TIMEOUT_S:g} (got {timeout!r})",
            key="mephisto.blueprint.remote_call_timeout_s",
        )
    ref = blueprint.get("hooks")
    if not ref:
        raise ConfigError(
            "a remote_procedure run needs a hooks module defining "
            "`function_registry = {name: function}` (the run script's "
            "SharedRemoteProcedureTaskState(function_registry=...)); name it with "
            "`mephisto.blueprint.hooks: ${task_dir}/hooks.py`",
            key="mephisto.blueprint.hooks",
        )
    try:
        module = task_hooks.load_hooks(str(ref), task_dir=task_dir)
    except task_hooks.HooksError as exc:
        raise ConfigError(str(exc), key="mephisto.blueprint.hooks") from exc
    registry = getattr(module, "function_registry", None)
    where = f"function_registry in hooks module {ref}"
    if registry is None:
        raise ConfigError(
            f"hooks module {ref} defines no function_registry; a remote_procedure "
            "run needs `function_registry = {name: function}` with functions "
            "`fn(request_id, args, agent_state)`",
            key="mephisto.blueprint.hooks",
        )
    if not isinstance(registry, dict) or not registry:
        raise ConfigError(
            f"{where} must be a non-empty dict of name -> function "
            f"(got {type(registry).__name__})",
            key="mephisto.blueprint.hooks",
        )
    for name, function in registry.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"{where}: every name must be a non-empty string (got {name!r})",
                key="mephisto.blueprint.hooks",
            )
        if not callable(function):
            raise ConfigError(
                f"{where}: {name!r} is not a function (got {type(function).__name__})",
                key="mephisto.blueprint.hooks",
            )
