"""Loading a launch config: Mephisto's Hydra YAML, overrides, validation, data rows.

`load_run_config()` is the one way in; the stages are modules of this package:
`compose` (Hydra, flags, resolving), `validate`, `requirements` (shared state,
qualifications), `rows` (data files), `schema`. It composes the YAML with Hydra (so the
`defaults:` list, `#@package _global_`, `${...}` interpolation and `key=value` /
`group=option` overrides behave as they do under Mephisto), checks it against the
schema in `run_config.schema`, loads the data rows and calls the `build_shared_state`
hook. Anything wrong raises `ConfigError` naming the key path; nothing is written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from crowdsite.config_errors import ConfigError
from providers.registry import get_provider_class
from tasks_app.run_config import schema
from tasks_app.run_config.compose import (
    check_yaml_syntax,
    compose_config,
    declared_flags,
    default_task_dir,
    resolve,
    split_task_dir_override,
    task_dir_of,
)
from tasks_app.run_config.live import check_live_task
from tasks_app.run_config.quality import check_quality_units
from tasks_app.run_config.requirements import build_shared_state, check_qualifications
from tasks_app.run_config.rows import load_rows
from tasks_app.run_config.validate import (
    check_missing,
    check_money_as_written,
    check_sections,
    check_values,
)

__all__ = ["ConfigError", "RunConfig", "default_task_dir", "load_run_config"]


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
        skip = {"mephisto", *schema.PLATFORM_TOP_LEVEL_KEYS}
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
    check_yaml_syntax(source, path)
    check_money_as_written(source, list(overrides))

    overrides, task_dir_override = split_task_dir_override(list(overrides))
    flags = declared_flags(path, overrides, task_dir_override)
    cfg = compose_config(path, overrides, flags=flags)
    OmegaConf.set_struct(cfg, False)
    task_dir = task_dir_of(cfg, path, task_dir_override)
    cfg.task_dir = str(task_dir)

    check_sections(cfg)
    check_missing(cfg)
    resolved = resolve(cfg)
    check_values(resolved)

    shared_state = build_shared_state(resolved, task_dir)
    shared_state.update(check_quality_units(resolved, task_dir))
    check_live_task(resolved, task_dir)
    provider_args = resolved["mephisto"]["provider"]
    # What only the provider can judge (Prolific's eligibility requirements).
    get_provider_class(provider_args["_provider_type"]).check_provider_args(
        provider_args=provider_args, shared_state=shared_state
    )
    rows = load_rows(resolved, shared_state)
    qualifications = check_qualifications(
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
