"""A launch config's data rows: the data file (CSV, JSON or JSONL) or the
`build_shared_state` hook's static data, each row storable."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from crowdsite.config_errors import ConfigError
from tasks_app.json_values import unstorable_reason
from tasks_app.run_config import schema


def load_rows(resolved: dict[str, Any], shared_state: dict[str, Any]) -> list[dict]:
    blueprint = resolved["mephisto"]["blueprint"]
    sources = [key for key in schema.DATA_SOURCE_KEYS if blueprint.get(key)]
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
        rows = read_data_file(Path(blueprint[source]), source, key)
    if not isinstance(rows, list) or not rows:
        raise ConfigError("has no data rows", key=key)
    where = f"{blueprint[source]} " if source in schema.DATA_SOURCE_KEYS else ""
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


def read_data_file(path: Path, kind: str, key: str) -> list[Any]:
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
