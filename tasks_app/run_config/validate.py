"""Checking a composed launch config: every section and key known, nothing
required missing, every value usable (money as written, names, durations,
paths, uploads); a refusal names the key path."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from omegaconf import DictConfig, OmegaConf

from crowdsite.config_errors import ConfigError
from crowdsite.money import parse_dollars
from providers.registry import get_provider_class
from tasks_app.run_config import schema
from tasks_app.uploads import UPLOAD_CEILINGS

MONEY_KEYS = ("mephisto.task.task_reward", "mephisto.task.budget")
# What a number in a YAML file or an override plainly looks like; other text
# float() still reads (1_000, １２, 1e2) is refused in parse_dollars' words.
PLAIN_NUMBER_TEXT = re.compile(r"-?[0-9]*\.?[0-9]*")


def check_money_as_written(source: str, overrides: list[str]) -> None:
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


def check_sections(cfg: DictConfig) -> None:
    mephisto = cfg.get("mephisto")
    if not isinstance(mephisto, DictConfig):
        raise ConfigError(
            "missing; a launch config needs a `mephisto:` section", key="mephisto"
        )
    for key in map(str, mephisto):
        if key not in schema.MEPHISTO_SECTIONS:
            raise ConfigError(
                unknown_key_message(key, schema.MEPHISTO_SECTIONS),
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
                unknown_key_message(key, sorted(task_fields)),
                key=f"mephisto.task.{key}",
            )


def unknown_key_message(key: str, valid: tuple[str, ...] | list[str]) -> str:
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
    "remote_procedure": ("mephisto.blueprint.task_source",),
    "mock": (),
}


def check_missing(cfg: DictConfig) -> None:
    required = REQUIRED_KEYS + REQUIRED_BLUEPRINT_KEYS.get(
        str(cfg.mephisto.blueprint.get("_blueprint_type")), ()
    )
    unset = OmegaConf.missing_keys(cfg)
    missing = [key for key in required if key in unset]
    if missing:
        if len(missing) == 1:
            raise ConfigError("required, but missing", key=missing[0])
        raise ConfigError(f"required keys are missing: {', '.join(missing)}")


# MTurk's longest AutoApprovalDelayInSeconds.
MAX_AUTO_APPROVE_DELAY = 60 * 60 * 24 * 30


def _check_task_name(value: Any) -> None:
    """Mephisto takes any name (`Sample Questionnaire`); refuse only what can't be
    told apart or shown: blank, padded, control characters, over-long."""
    key = "mephisto.task.task_name"
    name = "" if value is None else str(value)
    if not name.strip():
        raise ConfigError("must not be empty", key=key)
    if name != name.strip():
        raise ConfigError(f"must not start or end with a space (got {name!r})", key=key)
    if len(name) > schema.TASK_NAME_MAX_LENGTH:
        raise ConfigError(
            f"must be at most {schema.TASK_NAME_MAX_LENGTH} characters "
            f"(got {len(name)})",
            key=key,
        )
    control = next((c for c in name if not c.isprintable()), None)
    if control is not None:
        raise ConfigError(
            f"must not contain control characters (got {control!r} in {name!r})",
            key=key,
        )


def check_values(resolved: dict[str, Any]) -> None:
    task = resolved["mephisto"]["task"]
    blueprint = resolved["mephisto"]["blueprint"]
    architect = resolved["mephisto"]["architect"]
    provider = resolved["mephisto"]["provider"]

    _check_task_name(task.get("task_name"))
    level = resolved["mephisto"].get("log_level")
    if str(level).upper() not in schema.LOG_LEVELS:
        raise ConfigError(
            f"unknown log level {level!r}; valid: "
            + ", ".join(name.lower() for name in schema.LOG_LEVELS),
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
    check_source_paths(blueprint, Path(resolved["task_dir"]))
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


def check_source_paths(blueprint: dict[str, Any], task_dir: Path) -> None:
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
