"""Loading a launch config: Mephisto's Hydra YAML, overrides, validation, data rows.

`load_run_config()` is the one way in. It composes the YAML with Hydra (so the
`defaults:` list, `#@package _global_`, `${...}` interpolation and `key=value` /
`group=option` overrides behave as they do under Mephisto), checks it against the
schema in `run_config_schema`, loads the data rows and calls the `build_shared_state`
hook. Anything wrong raises `ConfigError` naming the key path; nothing is written.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import hashlib
import json
import math
import re
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from crowdsite.config_errors import ConfigError
from crowdsite.money import parse_dollars
from providers.registry import get_provider_class, specific_state_keys
from tasks_app import hooks as task_hooks
from tasks_app import run_config_schema as schema
from tasks_app.json_values import unstorable_reason
from tasks_app.uploads import UPLOAD_CEILINGS

# Keys the platform derives or adds at the top level next to `mephisto:`.
PLATFORM_TOP_LEVEL_KEYS = ("task_dir",)
TASK_NAME_MAX_LENGTH = 200
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DATA_SOURCE_KEYS = ("data_csv", "data_json", "data_jsonl")
# What build_shared_state may return, besides each provider's own key
# (`Provider.specific_state_key`, e.g. mturk_specific_qualifications).
SHARED_STATE_KEYS = (
    "qualifications",
    "static_task_data",
    "onboarding_data",
)

# Hydra keeps its state in a process-wide singleton; composing is serialised.
_hydra_lock = threading.Lock()


@dataclass(frozen=True)
class RunConfig:
    """A validated launch config, ready for `services.launch_run`."""

    source_yaml: str
    path: Path | None
    overrides: tuple[str, ...]
    task_dir: Path
    resolved: dict[str, Any]
    rows: list[dict[str, Any]]
    qualifications: list[dict[str, Any]]
    shared_state: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> dict[str, Any]:
        return self.resolved["mephisto"]["task"]

    @property
    def blueprint(self) -> dict[str, Any]:
        return self.resolved["mephisto"]["blueprint"]

    @property
    def architect(self) -> dict[str, Any]:
        return self.resolved["mephisto"]["architect"]

    @property
    def provider(self) -> dict[str, Any]:
        return self.resolved["mephisto"]["provider"]

    @property
    def blueprint_type(self) -> str:
        return self.blueprint["_blueprint_type"]

    @property
    def architect_type(self) -> str:
        return self.architect["_architect_type"]

    @property
    def provider_type(self) -> str:
        return self.provider["_provider_type"]

    @property
    def units_per_assignment(self) -> int:
        return int(self.blueprint.get("units_per_assignment", 1))

    @property
    def unit_count(self) -> int:
        return len(self.rows) * self.units_per_assignment

    @property
    def user_flags(self) -> dict[str, Any]:
        """The requester's own top-level keys (`num_tasks`, `correct_answer`, ...)."""
        skip = {"mephisto", *PLATFORM_TOP_LEVEL_KEYS}
        return {k: v for k, v in self.resolved.items() if k not in skip}

    @property
    def config_hash(self) -> str:
        """SHA-256 of everything that decides what a launch creates."""
        canonical = json.dumps(
            {
                "config": self.resolved,
                "rows": self.rows,
                "qualifications": self.qualifications,
                "shared_state": self.shared_state,
            },
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


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


def load_run_config(
    path: str | Path, overrides: list[str] | tuple[str, ...] = ()
) -> RunConfig:
    """Load, override, validate and resolve a launch config. Writes nothing."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"a launch config is a .yaml file (got {path.name})")
    try:
        # Bytes decoded as-is, so the stored text is the file exactly (line endings).
        source = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text: {exc}") from exc
    _check_yaml_syntax(source, path)
    _check_money_as_written(source, list(overrides))

    overrides, task_dir_override = _split_task_dir_override(list(overrides))
    flags = _declared_flags(path, overrides, task_dir_override)
    cfg = _compose(path, overrides, flags=flags)
    OmegaConf.set_struct(cfg, False)
    task_dir = _task_dir(cfg, path, task_dir_override)
    cfg.task_dir = str(task_dir)

    _check_sections(cfg)
    _check_missing(cfg)
    resolved = _resolve(cfg)
    _check_values(resolved)
    _check_not_yet_supported(resolved)

    shared_state = _build_shared_state(resolved, task_dir)
    provider_args = resolved["mephisto"]["provider"]
    # What only the provider can judge (Prolific's eligibility requirements).
    get_provider_class(provider_args["_provider_type"]).check_provider_args(
        provider_args=provider_args, shared_state=shared_state
    )
    rows = _load_rows(resolved, shared_state)
    qualifications = _check_qualifications(
        [
            *resolved["mephisto"]["task"].get("qualifications", []),
            *shared_state.get("qualifications", []),
        ]
    )
    return RunConfig(
        source_yaml=source,
        path=path,
        overrides=tuple(overrides)
        + ((f"task_dir={task_dir_override}",) if task_dir_override else ()),
        task_dir=task_dir,
        resolved=resolved,
        rows=rows,
        qualifications=qualifications,
        shared_state={k: v for k, v in shared_state.items() if k != "qualifications"},
    )


def default_task_dir(config_path: Path) -> Path:
    """The config's folder, or the task folder above `conf/` / `hydra_configs/conf/`."""
    folder = config_path.parent
    if folder.name == "conf":
        folder = folder.parent
        if folder.name == "hydra_configs":
            folder = folder.parent
    return folder


def _check_yaml_syntax(source: str, path: Path) -> None:
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


MONEY_KEYS = ("mephisto.task.task_reward", "mephisto.task.budget")
# What a number in a YAML file or an override plainly looks like; other text
# float() still reads (1_000, １２, 1e2) is refused in parse_dollars' words.
PLAIN_NUMBER_TEXT = re.compile(r"-?[0-9]*\.?[0-9]*")


def _check_money_as_written(source: str, overrides: list[str]) -> None:
    """Refuse an amount of money not written in plain ASCII decimals, in the file
    or an override: OmegaConf converts text such as `1_000` or `１２` to a float."""
    written = []
    for override in overrides:
        key, equals, value = override.lstrip("+~").partition("=")
        if equals and key.strip() in MONEY_KEYS:
            written.append((key.strip(), value.strip().strip("'\"")))
    node = yaml.compose(source)  # scalars as written, before YAML reads them
    for key in MONEY_KEYS:
        scalar = node
        for part in key.split("."):
            children = scalar.value if isinstance(scalar, yaml.MappingNode) else []
            scalar = next((v for k, v in children if k.value == part), None)
        if isinstance(scalar, yaml.ScalarNode):
            written.append((key, scalar.value.strip()))
    for key, text in written:
        if text in ("null", "~", "???") or text.startswith("${"):
            continue  # none, missing, or an interpolation (checked where it is set)
        if PLAIN_NUMBER_TEXT.fullmatch(text) or not _float_reads(text):
            continue  # plain, or no number at all (OmegaConf's refusal says so)
        try:
            parse_dollars(text, what="the amount")
        except ValueError as exc:
            raise ConfigError(str(exc), key=key) from exc


def _float_reads(text: str) -> bool:
    """Whether OmegaConf's float() takes `text` as a finite number."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _split_task_dir_override(overrides: list[str]) -> tuple[list[str], str | None]:
    kept, task_dir = [], None
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and key.lstrip("+") == "task_dir":
            task_dir = value
        else:
            kept.append(item)
    return kept, task_dir


def _task_dir(cfg: DictConfig, path: Path, override: str | None) -> Path:
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
RESERVED_FLAG_NAMES = ("defaults", "hydra", "mephisto", *PLATFORM_TOP_LEVEL_KEYS)


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


def _compose(path: Path, overrides: list[str], *, flags: type | None) -> DictConfig:
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


def _declared_flags(
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
        cfg = _compose(path, kept, flags=None)
        OmegaConf.set_struct(cfg, False)
        task_dir = _task_dir(cfg, path, task_dir_override)
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
    _check_source_paths(_unset_to_none(blueprint), task_dir)
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
            _unknown_key_message(name, [v for v in valid if not v.startswith("_")])
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


def _check_sections(cfg: DictConfig) -> None:
    mephisto = cfg.get("mephisto")
    if not isinstance(mephisto, DictConfig):
        raise ConfigError(
            "missing; a launch config needs a `mephisto:` section", key="mephisto"
        )
    for key in map(str, mephisto):
        if key not in schema.MEPHISTO_SECTIONS:
            raise ConfigError(
                _unknown_key_message(key, schema.MEPHISTO_SECTIONS),
                key=f"mephisto.{key}",
            )
    for group in ("blueprint", "architect", "provider"):
        if not isinstance(mephisto.get(group), DictConfig):
            example = {
                "blueprint": "static_react_task",
                "architect": "local",
                "provider": "mock",
            }[group]
            raise ConfigError(
                f"no {group} chosen; add `- /mephisto/{group}: {example}` to the "
                "`defaults:` list",
                key=f"mephisto.{group}",
            )
    # The task section's schema is composed first (_primary_config), which types
    # its values; a key added with `+` is still refused here, by name.
    task_fields = set(OmegaConf.structured(schema.TaskRunArgs).keys())
    for key in mephisto.get("task") or {}:
        if key not in task_fields:
            raise ConfigError(
                _unknown_key_message(key, sorted(task_fields)),
                key=f"mephisto.task.{key}",
            )


def _unknown_key_message(key: str, valid: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(str(key), [str(v) for v in valid], n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown key{hint} (valid keys: {', '.join(sorted(map(str, valid)))})"


# Mephisto marks optional fields MISSING too; only these must be given.
REQUIRED_KEYS = (
    "mephisto.task.task_name",
    "mephisto.task.task_title",
    "mephisto.task.task_description",
    "mephisto.task.task_reward",
)
REQUIRED_BLUEPRINT_KEYS = {
    "static_react_task": ("mephisto.blueprint.task_source",),
    "static_task": ("mephisto.blueprint.task_source",),
    "mock": (),
}


def _check_missing(cfg: DictConfig) -> None:
    required = REQUIRED_KEYS + REQUIRED_BLUEPRINT_KEYS.get(
        str(cfg.mephisto.blueprint.get("_blueprint_type")), ()
    )
    unset = OmegaConf.missing_keys(cfg)
    missing = [key for key in required if key in unset]
    if missing:
        if len(missing) == 1:
            raise ConfigError("required, but missing", key=missing[0])
        raise ConfigError(f"required keys are missing: {', '.join(missing)}")


def _resolve(cfg: DictConfig) -> dict[str, Any]:
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
MAX_AUTO_APPROVE_DELAY = 60 * 60 * 24 * 30

# Mephisto keys crowdsite doesn't act on yet. Left at their default they mean
# "off"; set otherwise, the launch is refused, so nobody believes a screening
# task or gold units are on. (Prolific's settings are the provider's to judge:
# `check_provider_args`.)
NOT_YET_SUPPORTED: dict[str, tuple[str, dict[str, Any]]] = {
    "blueprint": (
        "screening tasks and gold units are not supported yet",
        {
            "use_screening_task": False,
            "passed_qualification_name": None,
            "max_screening_units": None,
            "use_golds": False,
            "gold_qualification_base": None,
            "max_gold_units": None,
            "min_golds": 1,
            "max_incorrect_golds": 0,
        },
    ),
}


def _check_not_yet_supported(resolved: dict[str, Any]) -> None:
    for section, (reason, defaults) in NOT_YET_SUPPORTED.items():
        values = resolved["mephisto"][section]
        for key, default in defaults.items():
            if key in values and values[key] != default:
                raise ConfigError(
                    f"{reason}: crowdsite would ignore it (got {values[key]!r}); "
                    f"remove it, or set it back to {default!r}",
                    key=f"mephisto.{section}.{key}",
                )


def _check_task_name(value: Any) -> None:
    """Mephisto takes any name (`Sample Questionnaire`); refuse only what can't be
    told apart or shown: blank, padded, control characters, over-long."""
    key = "mephisto.task.task_name"
    name = "" if value is None else str(value)
    if not name.strip():
        raise ConfigError("must not be empty", key=key)
    if name != name.strip():
        raise ConfigError(f"must not start or end with a space (got {name!r})", key=key)
    if len(name) > TASK_NAME_MAX_LENGTH:
        raise ConfigError(
            f"must be at most {TASK_NAME_MAX_LENGTH} characters (got {len(name)})",
            key=key,
        )
    control = next((c for c in name if not c.isprintable()), None)
    if control is not None:
        raise ConfigError(
            f"must not contain control characters (got {control!r} in {name!r})",
            key=key,
        )


def _check_values(resolved: dict[str, Any]) -> None:
    task = resolved["mephisto"]["task"]
    blueprint = resolved["mephisto"]["blueprint"]
    architect = resolved["mephisto"]["architect"]
    provider = resolved["mephisto"]["provider"]

    _check_task_name(task.get("task_name"))
    level = resolved["mephisto"].get("log_level")
    if str(level).upper() not in LOG_LEVELS:
        raise ConfigError(
            f"unknown log level {level!r}; valid: "
            + ", ".join(name.lower() for name in LOG_LEVELS),
            key="mephisto.log_level",
        )
    for key in ("task_title", "task_description"):
        if not str(task.get(key) or "").strip():
            raise ConfigError("must not be empty", key=f"mephisto.task.{key}")
    if not math.isfinite(task["task_reward"]) or task["task_reward"] < 0:
        raise ConfigError(
            f"must be 0 or more (got {task['task_reward']})",
            key="mephisto.task.task_reward",
        )
    for key in (
        "assignment_duration_in_seconds",
        "allowed_concurrent",
        "maximum_units_per_worker",
        "max_num_concurrent_units",
        "no_submission_patience",
    ):
        value = task.get(key)
        if value is not None and value < 0:
            raise ConfigError(
                f"must be 0 or more (got {value})", key=f"mephisto.task.{key}"
            )
    delay = task.get("auto_approve_delay_in_seconds")
    if delay is not None and not 0 <= delay <= MAX_AUTO_APPROVE_DELAY:
        raise ConfigError(
            f"must be from 0 to {MAX_AUTO_APPROVE_DELAY} seconds (30 days, the "
            f"most MTurk allows); got {delay}",
            key="mephisto.task.auto_approve_delay_in_seconds",
        )
    budget = task.get("budget")
    if budget is not None and (not math.isfinite(budget) or budget <= 0):
        raise ConfigError(
            f"must be a number of dollars more than 0 (got {budget}); leave it out "
            "for no budget",
            key="mephisto.task.budget",
        )
    for key in ("task_reward", "budget"):
        # A size the money arithmetic can hold (1e300 would fail it mid-launch).
        if task.get(key) is not None:
            try:
                parse_dollars(task[key], what="the amount")
            except ValueError as exc:
                raise ConfigError(str(exc), key=f"mephisto.task.{key}") from exc
    if task.get("assignment_duration_in_seconds", 1) <= 0:
        raise ConfigError(
            "must be more than 0 seconds",
            key="mephisto.task.assignment_duration_in_seconds",
        )
    if int(blueprint.get("units_per_assignment", 1)) < 1:
        raise ConfigError(
            f"must be 1 or more (got {blueprint['units_per_assignment']})",
            key="mephisto.blueprint.units_per_assignment",
        )
    source = blueprint.get("task_source")
    if blueprint["_blueprint_type"] != "mock":
        if not source:
            raise ConfigError(
                "required, but missing", key="mephisto.blueprint.task_source"
            )
        if not Path(source).is_file():
            raise ConfigError(
                f"file not found: {source}", key="mephisto.blueprint.task_source"
            )
    _check_source_paths(blueprint, Path(resolved["task_dir"]))
    _check_uploads(blueprint.get("uploads") or {})

    live = provider["_provider_type"]
    sends_real_workers = get_provider_class(live).sends_real_workers
    if sends_real_workers and architect["_architect_type"] != "server":
        raise ConfigError(
            f"provider '{live}' sends real workers, who can't reach a local "
            "server; use `/mephisto/architect: server` with a public "
            "HTTPS PUBLIC_URL",
            key="mephisto.architect",
        )
    if architect["_architect_type"] == "server":
        public_url = architect.get("public_url") or settings.PUBLIC_URL
        if not public_url:
            raise ConfigError(
                "the `server` architect needs a public HTTPS address: set "
                "PUBLIC_URL in the environment or mephisto.architect.public_url",
                key="mephisto.architect.public_url",
            )
        if not str(public_url).startswith("https://"):
            raise ConfigError(
                f"must start with https:// (got {public_url!r})",
                key="mephisto.architect.public_url",
            )


# Blueprint keys naming files that workers are served (or, for hooks, code the
# server runs): they must lie in the task folder or a folder named for them.
SOURCE_PATH_KEYS = (
    "task_source",
    "extra_source_dir",
    "preview_source",
    "onboarding_source",
    "task_source_review",
    "hooks",
)


def _check_source_paths(blueprint: dict[str, Any], task_dir: Path) -> None:
    named = blueprint.get("allowed_source_dirs") or []
    roots = [task_dir.resolve()]
    for number, folder in enumerate(named):
        if not Path(str(folder)).expanduser().is_dir():
            raise ConfigError(
                f"folder not found: {folder}",
                key=f"mephisto.blueprint.allowed_source_dirs[{number}]",
            )
        roots.append(Path(str(folder)).expanduser().resolve())
    for key in SOURCE_PATH_KEYS:
        value = blueprint.get(key)
        if not value:
            continue
        value = str(value)
        if key == "hooks" and not (value.endswith(".py") or "/" in value):
            continue  # a dotted module name: imported as Python finds it
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = task_dir / path
        # resolve() follows symlinks and `..`, so neither leads outside.
        real = path.resolve()
        if not any(real == root or real.is_relative_to(root) for root in roots):
            raise ConfigError(
                f"{value} is outside the task folder {task_dir}; keep the task's "
                "files there, or name their folder in "
                "mephisto.blueprint.allowed_source_dirs",
                key=f"mephisto.blueprint.{key}",
            )


def _check_uploads(uploads: dict[str, Any]) -> None:
    for name, setting in UPLOAD_CEILINGS.items():
        value = uploads.get(name)
        if value is None:
            continue
        ceiling = getattr(settings, setting)
        if value < 1 or value > ceiling:
            raise ConfigError(
                f"must be from 1 to {ceiling}, this site's {setting} (got {value})",
                key=f"mephisto.blueprint.uploads.{name}",
            )
    allowed = {
        e.lower().lstrip(".") for e in settings.CROWDSITE_ALLOWED_UPLOAD_EXTENSIONS
    }
    for number, extension in enumerate(uploads.get("extensions") or []):
        if str(extension).lower().lstrip(".") not in allowed:
            raise ConfigError(
                f"{extension!r} is not a type this site accepts; allowed: "
                f"{', '.join(sorted(allowed))} (CROWDSITE_ALLOWED_UPLOAD_EXTENSIONS)",
                key=f"mephisto.blueprint.uploads.extensions[{number}]",
            )


def _build_shared_state(resolved: dict[str, Any], task_dir: Path) -> dict[str, Any]:
    hooks_ref = resolved["mephisto"]["blueprint"].get("hooks")
    if not hooks_ref:
        return {}
    try:
        module = task_hooks.load_hooks(hooks_ref, task_dir=task_dir)
    except task_hooks.HooksError as exc:
        raise ConfigError(str(exc), key="mephisto.blueprint.hooks") from exc
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
    valid_keys = [*SHARED_STATE_KEYS, *specific]
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


def _load_rows(resolved: dict[str, Any], shared_state: dict[str, Any]) -> list[dict]:
    blueprint = resolved["mephisto"]["blueprint"]
    sources = [key for key in DATA_SOURCE_KEYS if blueprint.get(key)]
    if blueprint.get("static_task_data"):
        sources.append("static_task_data")
    if shared_state.get("static_task_data"):
        sources.append("hooks")
    if len(sources) > 1:
        raise ConfigError(
            f"give the data rows one way, not {len(sources)} ({', '.join(sources)})",
            key="mephisto.blueprint",
        )
    if not sources:
        if blueprint["_blueprint_type"] == "mock":
            count = int(blueprint.get("num_assignments") or 1)
            return [{} for _ in range(count)]
        raise ConfigError(
            "no data rows: set one of data_csv, data_json, data_jsonl or "
            "static_task_data (or return static_task_data from the hooks)",
            key="mephisto.blueprint",
        )
    source = sources[0]
    if source == "static_task_data":
        rows = blueprint["static_task_data"]
        key = "mephisto.blueprint.static_task_data"
    elif source == "hooks":
        rows = shared_state["static_task_data"]
        key = "mephisto.blueprint.hooks"
    else:
        key = f"mephisto.blueprint.{source}"
        rows = _read_data_file(Path(blueprint[source]), source, key)
    if not isinstance(rows, list) or not rows:
        raise ConfigError("has no data rows", key=key)
    where = f"{blueprint[source]} " if source in DATA_SOURCE_KEYS else ""
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ConfigError(
                f"row {number} must be an object of fields, not {type(row).__name__}",
                key=key,
            )
        problem = unstorable_reason(row)
        if problem:
            raise ConfigError(
                f"{where}row {number} {problem}; the database can't store it",
                key=key,
            )
    return rows


def _read_data_file(path: Path, kind: str, key: str) -> list[Any]:
    if not path.is_file():
        raise ConfigError(f"file not found: {path}", key=key)
    try:
        # As Mephisto reads them, and as spreadsheet programs save them: a
        # byte-order mark at the start is not part of the first column's name.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text: {exc}", key=key) from exc
    if not text.strip():
        raise ConfigError(f"{path} is empty", key=key)
    if kind == "data_csv":
        reader = csv.DictReader(text.splitlines())
        rows = []
        for row in reader:
            if None in row:
                raise ConfigError(
                    f"{path}:{reader.line_num}: more values than header columns",
                    key=key,
                )
            rows.append(row)
        if not rows:
            raise ConfigError(f"{path} has a header but no rows", key=key)
        return rows
    if kind == "data_json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}", key=key
            ) from exc
        if not isinstance(rows, list):
            raise ConfigError(f"{path} must hold a JSON list of rows", key=key)
        return rows
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}:{number}: invalid JSON: {exc.msg}", key=key
            ) from exc
    return rows


def _check_qualifications(requirements: list[Any]) -> list[dict[str, Any]]:
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
