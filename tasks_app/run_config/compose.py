"""Composing a launch config as Mephisto does: Hydra's `defaults:` list,
`#@package _global_`, `${...}` interpolation and `key=value` overrides, the
user's own flags (a hooks module's `Flags`), and resolving it to plain data."""

from __future__ import annotations

import dataclasses
import re
import threading
import warnings
from pathlib import Path
from typing import Any

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from crowdsite.config_errors import ConfigError
from tasks_app import hooks as task_hooks
from tasks_app.run_config import schema
from tasks_app.run_config.validate import check_source_paths, unknown_key_message

# Hydra keeps its state in a process-wide singleton; composing is serialised.
_hydra_lock = threading.Lock()


def _register_schema() -> None:
    """Make `/mephisto/<group>: <name>` in a defaults list find our schemas."""
    store = ConfigStore.instance()
    for group, options in (
        ("blueprint", schema.BLUEPRINTS),
        ("architect", schema.ARCHITECTS),
        ("provider", schema.PROVIDERS),
    ):
        for name, node in options.items():
            store.store(
                group=f"mephisto/{group}",
                name=name,
                node=node,
                package=f"mephisto.{group}",
            )


_register_schema()


_register_schema()


def default_task_dir(config_path: Path) -> Path:
    """The config's folder, or the task folder above `conf/` / `hydra_configs/conf/`."""
    folder = config_path.parent
    if folder.name == "conf":
        folder = folder.parent
        if folder.name == "hydra_configs":
            folder = folder.parent
    return folder


def check_yaml_syntax(source: str, path: Path) -> None:
    try:
        data = yaml.safe_load(source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"malformed YAML at {where}: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML in {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping (keys such as `defaults:` and `mephisto:`), "
            f"not {type(data).__name__}"
        )


def split_task_dir_override(overrides: list[str]) -> tuple[list[str], str | None]:
    kept, task_dir = [], None
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and key.lstrip("+") == "task_dir":
            task_dir = value
        else:
            kept.append(item)
    return kept, task_dir


def task_dir_of(cfg: DictConfig, path: Path, override: str | None) -> Path:
    if override is not None:
        return Path(override).expanduser().resolve()
    if cfg.get("task_dir"):
        return Path(str(cfg.task_dir)).expanduser().resolve()
    return default_task_dir(path)


# The config Hydra composes, as Mephisto's `@task_script` does: the schema of every
# Mephisto default (and the task's `Flags`) first, then the requester's YAML. So
# `mephisto.task.allowed_concurrent=1` overrides a default whether or not the
# YAML mentions it, and `+key=` is refused for a key that exists, as in Mephisto.
PRIMARY_CONFIG = "__crowdsite_launch__"
RESERVED_FLAG_NAMES = ("defaults", "hydra", "mephisto", *schema.PLATFORM_TOP_LEVEL_KEYS)


def _primary_config(config_name: str, flags: type | None) -> DictConfig:
    node = OmegaConf.create(
        {
            "defaults": ["_self_", config_name],
            "mephisto": {
                "task": OmegaConf.structured(schema.TaskRunArgs),
                "database": OmegaConf.structured(schema.DatabaseArgs),
                "log_level": schema.DEFAULT_LOG_LEVEL,
            },
        }
    )
    if flags is not None:
        declared = OmegaConf.structured(flags)
        for name in declared:
            # The typed node, so a wrong value is refused with its key path.
            node[name] = declared._get_node(str(name))
    # Open at the top, where the YAML may add flags of its own; `mephisto.task`
    # keeps its schema's closed keys.
    OmegaConf.set_struct(node, False)
    return node


def compose_config(
    path: Path, overrides: list[str], *, flags: type | None
) -> DictConfig:
    if path.suffix == ".yml":
        raise ConfigError(
            f"Hydra reads configs named *.yaml only; rename {path.name} to "
            f"{path.stem}.yaml"
        )
    if path.stem == PRIMARY_CONFIG:
        raise ConfigError(f"{path.name}: this file name is reserved; rename it")
    with _hydra_lock, warnings.catch_warnings():
        # Mephisto configs omit `_self_`; Hydra's default order (config last) is
        # what they expect, so the reminder is noise for our users.
        warnings.filterwarnings("ignore", message=".*_self_.*", category=UserWarning)
        GlobalHydra.instance().clear()
        ConfigStore.instance().store(
            name=PRIMARY_CONFIG, node=_primary_config(path.stem, flags)
        )
        try:
            with initialize_config_dir(version_base=None, config_dir=str(path.parent)):
                # Hydra looks configs up by name and only by the `.yaml` suffix.
                return compose(config_name=PRIMARY_CONFIG, overrides=overrides)
        except MissingConfigException as exc:
            raise _unknown_option_error(exc) from exc
        except (HydraException, OmegaConfBaseException, ValueError) as exc:
            raise _composition_error(exc) from exc
        finally:
            GlobalHydra.instance().clear()


def declared_flags(
    path: Path, overrides: list[str], task_dir_override: str | None
) -> type | None:
    """The `Flags` dataclass of the config's hooks module, if it declares one.

    The hooks module is named in the config, so the config is composed once
    without the flags (and without overrides other than of the hooks module or a
    config group) to find it. If that fails, the full composition reports why.
    """
    kept = [
        item
        for item in overrides
        if "/" in item.partition("=")[0]
        or item.lstrip("+~").startswith("mephisto.blueprint.hooks=")
    ]
    try:
        cfg = compose_config(path, kept, flags=None)
        OmegaConf.set_struct(cfg, False)
        task_dir = task_dir_of(cfg, path, task_dir_override)
        cfg.task_dir = str(task_dir)
        ref = OmegaConf.select(cfg, "mephisto.blueprint.hooks", default=None)
    except (ConfigError, OmegaConfBaseException):
        return None
    if not ref:
        return None
    try:
        blueprint = OmegaConf.to_container(cfg.mephisto.blueprint, resolve=True)
    except OmegaConfBaseException:
        return None
    # Nothing is imported from outside the task's folders.
    check_source_paths(_unset_to_none(blueprint), task_dir)
    try:
        module = task_hooks.load_hooks(str(ref), task_dir=task_dir)
    except task_hooks.HooksError as exc:
        raise ConfigError(str(exc), key="mephisto.blueprint.hooks") from exc
    flags = getattr(module, "Flags", None)
    if flags is None:
        return None
    where = f"the Flags of hooks module {ref}"
    if not (isinstance(flags, type) and dataclasses.is_dataclass(flags)):
        raise ConfigError(
            f"{where} must be a dataclass (@dataclass class Flags: ...)",
            key="mephisto.blueprint.hooks",
        )
    names = [f.name for f in dataclasses.fields(flags)]
    reserved = [name for name in names if name in RESERVED_FLAG_NAMES]
    if reserved:
        raise ConfigError(
            f"{where} declares {', '.join(reserved)}, a name the launch config "
            "itself uses; rename the flag",
            key="mephisto.blueprint.hooks",
        )
    try:
        OmegaConf.structured(flags)
    except OmegaConfBaseException as exc:
        raise ConfigError(
            f"{where} can't be a config schema: {_first_lines(str(exc))}",
            key="mephisto.blueprint.hooks",
        ) from exc
    return flags


def _unknown_option_error(exc: MissingConfigException) -> ConfigError:
    match = re.search(r"mephisto/(blueprint|architect|provider)/([^'\s]+)", str(exc))
    if not match:
        return ConfigError(_first_lines(str(exc)))
    group, name = match.groups()
    valid = {
        "blueprint": schema.BLUEPRINTS,
        "architect": schema.ARCHITECTS,
        "provider": schema.PROVIDERS,
    }[group]
    message = f"unknown {group} '{name}'; valid {group}s are: {', '.join(valid)}"
    if group == "blueprint" and name in schema.UNSUPPORTED_BLUEPRINTS:
        message += f" ({schema.UNSUPPORTED_BLUEPRINTS[name]})"
    if group == "architect" and name in schema.UNSUPPORTED_ARCHITECTS:
        message += (
            f" ('{name}' deploys a separate server; crowdsite serves tasks itself: "
            "use `local`, or `server` with PUBLIC_URL for live providers)"
        )
    return ConfigError(message, key=f"mephisto.{group}")


def _composition_error(exc: BaseException) -> ConfigError:
    text = str(exc)
    if "To append to your config use" in text:
        # An override of a key the config doesn't have: Hydra's hint is the answer.
        return ConfigError(_first_lines(text))
    # Hydra wraps OmegaConf's error; the innermost one knows the key path.
    inner: BaseException | None = exc
    while inner is not None:
        if isinstance(inner, OmegaConfBaseException) and getattr(
            inner, "full_key", None
        ):
            return _omegaconf_error(inner)
        inner = inner.__cause__ or inner.__context__
    return ConfigError(_first_lines(str(exc)))


def _omegaconf_error(exc: OmegaConfBaseException, prefix: str = "") -> ConfigError:
    key = f"{prefix}{exc.full_key}" if prefix else str(exc.full_key)
    message = str(getattr(exc, "msg", "") or exc).split("\n")[0]
    if "does not support deletion" in message:
        return ConfigError(
            "is a key of Mephisto's schema, so `~` can't delete it; give it a value "
            "instead",
            key=key,
        )
    if "not in" in message or "not found" in message.lower():
        object_type = getattr(exc, "object_type", None)
        valid = list(getattr(object_type, "__dataclass_fields__", {}))
        name = key.rsplit(".", 1)[-1]
        message = (
            unknown_key_message(name, [v for v in valid if not v.startswith("_")])
            if valid
            else "unknown key"
        )
    return ConfigError(message, key=key)


def _first_lines(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    kept = []
    for line in lines:
        if line.startswith("Config search path"):
            break
        kept.append(line.strip())
    return " ".join(kept)


def resolve(cfg: DictConfig) -> dict[str, Any]:
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except OmegaConfBaseException as exc:
        raise _omegaconf_error(exc) from exc
    assert isinstance(resolved, dict)
    return _unset_to_none(resolved)


def _unset_to_none(value: Any) -> Any:
    """Optional fields left MISSING ('???') are stored as null."""
    if isinstance(value, dict):
        return {k: _unset_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unset_to_none(v) for v in value]
    return None if value == "???" else value


# MTurk's longest AutoApprovalDelayInSeconds.
