"""What the run-config tests write and load: a Mephisto-style config with dotted
changes, a task folder around it (bundle, data files), and the loaded RunConfig."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from tasks_app.run_config import RunConfig, load_run_config

DELETE = object()  # a `changes` value that removes the key

BASE_BODY = {
    "mephisto": {
        "blueprint": {
            "task_source": "${task_dir}/bundle.js",
            "data_csv": "${task_dir}/data.csv",
        },
        "task": {
            "task_name": "rate-sentences",
            "task_title": "Rate a sentence",
            "task_description": "Say whether the sentence reads well.",
            "task_reward": 0.5,
        },
    },
}
TWO_ROWS = [{"text": "first"}, {"text": "second"}]


def config_yaml(
    changes: dict | None = None,
    *,
    blueprint: str = "static_react_task",
    architect: str = "local",
    provider: str = "mock",
) -> str:
    """A Mephisto-style config; `changes` maps dotted key paths to new values."""
    data = {
        "defaults": [
            {"/mephisto/blueprint": blueprint},
            {"/mephisto/architect": architect},
            {"/mephisto/provider": provider},
        ],
        **copy.deepcopy(BASE_BODY),
    }
    for dotted, value in (changes or {}).items():
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return "#@package _global_\n" + yaml.safe_dump(data, sort_keys=False)


def write_files(folder: Path, files: dict[str, str] | None = None) -> None:
    """Write a JS bundle and a two-row data.csv into `folder`, plus `files`."""
    files = {
        "bundle.js": "console.log('task');\n",
        "data.csv": "text\nfirst\nsecond\n",
        **(files or {}),
    }
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


def write_task(
    folder: Path,
    text: str,
    *,
    config_name: str = "config.yaml",
    files: dict[str, str] | None = None,
) -> Path:
    """Write a task folder (config, JS bundle, data files); return the config's path."""
    write_files(folder, files)
    config = folder / config_name
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text, encoding="utf-8")
    return config


def load(tmp_path: Path, changes: dict | None = None, **groups: str) -> RunConfig:
    return load_run_config(write_task(tmp_path, config_yaml(changes, **groups)))
