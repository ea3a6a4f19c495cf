"""What a launch config asks of workers: the hooks' shared state
(`build_shared_state`) and the qualification requirements, checked."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from omegaconf import OmegaConf

from crowdsite.config_errors import ConfigError
from providers.registry import specific_state_keys
from tasks_app import hooks as task_hooks
from tasks_app.run_config import schema


def config_hooks(resolved: dict[str, Any], task_dir: Path) -> ModuleType | None:
    """The config's hooks module (`mephisto.blueprint.hooks`), or None."""
    hooks_ref = resolved["mephisto"]["blueprint"].get("hooks")
    if not hooks_ref:
        return None
    try:
        return task_hooks.load_hooks(hooks_ref, task_dir=task_dir)
    except task_hooks.HooksError as exc:
        raise ConfigError(str(exc), key="mephisto.blueprint.hooks") from exc


def build_shared_state(resolved: dict[str, Any], task_dir: Path) -> dict[str, Any]:
    module = config_hooks(resolved, task_dir)
    if module is None:
        return {}
    builder = getattr(module, "build_shared_state", None)
    if builder is None:
        return {}
    # The hook sees the config the way a Mephisto run script does: `cfg.flag`.
    state = builder(OmegaConf.create(resolved)) or {}
    if not isinstance(state, dict):
        raise ConfigError(
            f"build_shared_state must return a dict, not {type(state).__name__}",
            key="mephisto.blueprint.hooks",
        )
    specific = specific_state_keys()
    valid_keys = [*schema.SHARED_STATE_KEYS, *specific]
    unknown = sorted(set(state) - set(valid_keys))
    if unknown:
        raise ConfigError(
            f"build_shared_state returned unknown keys {unknown}; "
            f"valid keys: {', '.join(valid_keys)}",
            key="mephisto.blueprint.hooks",
        )
    # Each provider's own requirements reach that provider only: on another one
    # they would be accepted and ignored, so they are refused. The provider
    # checks its own (`check_provider_args`).
    provider = resolved["mephisto"]["provider"]["_provider_type"]
    for key, providers in specific.items():
        if state.get(key) and provider not in providers:
            raise ConfigError(
                f"build_shared_state returned {key}, which only "
                f"{' and '.join(providers)} applies; this run is on {provider}, "
                "which would ignore them: return them only for that provider, "
                "or use mephisto.task.qualifications",
                key="mephisto.blueprint.hooks",
            )
    return state


def check_qualifications(requirements: list[Any]) -> list[dict[str, Any]]:
    """Normalise qualification requirements; refuse bad comparators and values."""
    checked = []
    seen = set()
    for index, item in enumerate(requirements):
        key = f"mephisto.task.qualifications[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(
                "must be a mapping with qualification_name and comparator", key=key
            )
        unknown = sorted(
            set(item)
            - {"qualification_name", "comparator", "value", "applicable_providers"}
        )
        if unknown:
            raise ConfigError(f"unknown keys {unknown}", key=key)
        name = item.get("qualification_name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("required, but missing", key=f"{key}.qualification_name")
        comparator = item.get("comparator")
        if comparator not in schema.QUALIFICATION_COMPARATORS:
            raise ConfigError(
                f"unknown comparator {comparator!r}; valid comparators are: "
                f"{', '.join(schema.QUALIFICATION_COMPARATORS)}",
                key=f"{key}.comparator",
            )
        value = item.get("value")
        if comparator in ("Exists", "DoesNotExist"):
            if value is not None:
                raise ConfigError(
                    f"{comparator} takes no value (got {value!r})", key=f"{key}.value"
                )
        elif comparator in ("In", "NotIn"):
            if (
                not isinstance(value, list)
                or not value
                or not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in value
                )
            ):
                raise ConfigError(
                    f"{comparator} needs a list of integers (got {value!r})",
                    key=f"{key}.value",
                )
        elif not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(
                f"{comparator} needs an integer value (got {value!r})",
                key=f"{key}.value",
            )
        providers = item.get("applicable_providers")
        if providers is not None and (
            not isinstance(providers, list)
            or any(p not in schema.PROVIDERS for p in providers)
        ):
            raise ConfigError(
                f"must be a list of providers from: {', '.join(schema.PROVIDERS)}",
                key=f"{key}.applicable_providers",
            )
        if name in seen:
            raise ConfigError(f"qualification {name!r} is required twice", key=key)
        seen.add(name)
        checked.append(
            {
                "qualification_name": name,
                "comparator": comparator,
                "value": value,
                "applicable_providers": providers,
            }
        )
    return checked
