"""Loading a launch config (DESIGN §4): the Mephisto YAML forms accepted, with their
overrides, data sources, qualification requirements and hooks, into a RunConfig."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks_app.run_config import load_run_config
from tests.run_config_calls import (
    DELETE,
    TWO_ROWS,
    config_yaml,
    load,
    write_files,
    write_task,
)

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "examples" / "static_react_task"
EXAMPLE_CONF = EXAMPLE_DIR / "conf"
EXAMPLE_HOOKS = EXAMPLE_DIR / "hooks.py"


# --------------------------------------------------------------------------
# Good forms
# --------------------------------------------------------------------------

MEPHISTO_REACT_EXAMPLE = """\
#@package _global_
defaults:
  - /mephisto/blueprint: static_react_task
  - /mephisto/architect: local
  - /mephisto/provider: mock
mephisto:
  blueprint:
    task_source: ${task_dir}/webapp/build/bundle.js
    link_task_source: false
    extra_source_dir: ${task_dir}/webapp/src/static
    units_per_assignment: 1
    data_csv: ${task_dir}/data.csv
  task:
    task_name: react-static-task-example
    task_title: "Rating a sentence as good or bad"
    task_description: "In this task, you'll be given a sentence."
    task_reward: 0.05
    task_tags: "test,simple,button"
"""


def test_unmodified_mephisto_config_loads_with_mephisto_defaults(tmp_path):
    path = write_task(
        tmp_path,
        MEPHISTO_REACT_EXAMPLE,
        files={"webapp/build/bundle.js": "console.log('task');\n"},
    )

    config = load_run_config(path)

    assert (config.blueprint_type, config.architect_type, config.provider_type) == (
        "static_react_task",
        "local",
        "mock",
    )
    assert config.blueprint["task_source"] == str(tmp_path / "webapp/build/bundle.js")
    assert config.blueprint["extra_source_dir"] == str(tmp_path / "webapp/src/static")
    assert config.task["task_name"] == "react-static-task-example"
    assert config.task["task_reward"] == 0.05
    assert config.task["assignment_duration_in_seconds"] == 1800
    assert config.task["allowed_concurrent"] == 0
    assert config.task["maximum_units_per_worker"] == 0
    assert config.task["max_num_concurrent_units"] == 0
    assert config.task["no_submission_patience"] == 60 * 60 * 12
    assert config.task["task_lifetime_in_seconds"] == 60 * 60 * 24 * 31
    assert config.units_per_assignment == 1
    assert config.rows == TWO_ROWS
    assert config.qualifications == []


@pytest.mark.parametrize(
    ("name", "task_name", "provider", "rows"),
    [
        ("local_testing.yaml", "sentence-rating-local-testing", "mock", 6),
        ("pilot_1.yaml", "sentence-rating-pilot-1", "mturk_sandbox", 5),
        ("live_batch_1.yaml", "sentence-rating-live-batch-1", "mturk", 2000),
    ],
)
def test_example_configs_load(settings, name, task_name, provider, rows):
    settings.PUBLIC_URL = "https://crowd.example.org"

    config = load_run_config(EXAMPLE_CONF / name)

    assert config.task["task_name"] == task_name
    assert config.provider_type == provider
    assert len(config.rows) == rows
    assert config.task_dir == EXAMPLE_DIR


@pytest.mark.parametrize(
    "config_name", ["config.yaml", "conf/config.yaml", "hydra_configs/conf/config.yaml"]
)
def test_task_dir_is_the_task_folder_even_when_the_config_sits_in_conf(
    tmp_path, config_name
):
    path = write_task(tmp_path, config_yaml(), config_name=config_name)

    config = load_run_config(path)

    assert config.task_dir == tmp_path
    assert config.resolved["task_dir"] == str(tmp_path)
    assert config.blueprint["task_source"] == str(tmp_path / "bundle.js")


def test_task_dir_override_wins_over_the_config_folder(tmp_path):
    path = write_task(tmp_path / "configs", config_yaml())
    write_files(tmp_path / "task")

    config = load_run_config(path, [f"task_dir={tmp_path / 'task'}"])

    assert config.task_dir == tmp_path / "task"
    assert config.blueprint["task_source"] == str(tmp_path / "task" / "bundle.js")
    assert config.overrides == (f"task_dir={tmp_path / 'task'}",)


def test_override_changes_the_task_name(tmp_path):
    path = write_task(tmp_path, config_yaml())

    config = load_run_config(path, ["mephisto.task.task_name=my-task-pilot-2"])

    assert config.task["task_name"] == "my-task-pilot-2"
    assert config.overrides == ("mephisto.task.task_name=my-task-pilot-2",)


def test_group_override_swaps_the_provider(tmp_path):
    # A live provider on the local architect is refused; the override makes it valid.
    path = write_task(tmp_path, config_yaml(provider="mturk"))

    config = load_run_config(path, ["mephisto/provider=mock"])

    assert config.provider_type == "mock"


def test_override_changes_a_user_flag(tmp_path):
    path = write_task(tmp_path, config_yaml({"num_tasks": 2}))

    config = load_run_config(path, ["num_tasks=7"])

    assert config.user_flags["num_tasks"] == 7
    assert config.resolved["num_tasks"] == 7


@pytest.mark.parametrize(
    ("source", "files"),
    [
        pytest.param(
            {"mephisto.blueprint.static_task_data": TWO_ROWS}, {}, id="inline"
        ),
        pytest.param(
            {"mephisto.blueprint.data_csv": "${task_dir}/rows.csv"},
            {"rows.csv": "text\nfirst\nsecond\n"},
            id="csv",
        ),
        pytest.param(
            {"mephisto.blueprint.data_json": "${task_dir}/rows.json"},
            {"rows.json": json.dumps(TWO_ROWS, indent=2)},
            id="json",
        ),
        pytest.param(
            {"mephisto.blueprint.data_jsonl": "${task_dir}/rows.jsonl"},
            {"rows.jsonl": "".join(json.dumps(row) + "\n" for row in TWO_ROWS)},
            id="jsonl",
        ),
    ],
)
def test_rows_are_read_from_each_kind_of_data_source(tmp_path, source, files):
    changes = {"mephisto.blueprint.data_csv": DELETE, **source}
    path = write_task(tmp_path, config_yaml(changes), files=files)

    config = load_run_config(path)

    assert config.rows == TWO_ROWS


def test_unit_count_is_units_per_assignment_times_rows(tmp_path):
    config = load(tmp_path, {"mephisto.blueprint.units_per_assignment": 3})

    assert config.units_per_assignment == 3
    assert config.unit_count == 3 * 2


def test_top_level_user_flags_are_kept(tmp_path):
    flags = {
        "num_tasks": 2,
        "am_qualifying_new_workers": True,
        "correct_answer": "good",
    }

    config = load(tmp_path, flags)

    assert config.user_flags == flags
    assert {k: config.resolved[k] for k in flags} == flags


@pytest.mark.parametrize(
    ("comparator", "value"),
    [
        ("GreaterThan", 80),
        ("GreaterThanOrEqualTo", 80),
        ("LessThan", 3),
        ("LessThanOrEqualTo", 3),
        ("EqualTo", 1),
        ("NotEqualTo", 0),
        ("Exists", None),
        ("DoesNotExist", None),
        ("In", [1, 2, 3]),
        ("NotIn", [4, 5]),
    ],
)
def test_qualification_requirement_is_accepted_for_each_comparator(
    tmp_path, comparator, value
):
    requirement = {"qualification_name": "approval", "comparator": comparator}
    if value is not None:
        requirement["value"] = value

    config = load(tmp_path, {"mephisto.task.qualifications": [requirement]})

    assert config.qualifications == [
        {
            "qualification_name": "approval",
            "comparator": comparator,
            "value": value,
            "applicable_providers": None,
        }
    ]


@pytest.mark.parametrize(
    ("recruiting", "comparator"), [(True, "DoesNotExist"), (False, "Exists")]
)
def test_hooks_turn_am_qualifying_new_workers_into_an_allowlist_requirement(
    tmp_path, recruiting, comparator
):
    config = load(
        tmp_path,
        {
            "mephisto.blueprint.hooks": str(EXAMPLE_HOOKS),
            "mephisto.blueprint.allowed_source_dirs": [str(EXAMPLE_DIR)],
            "am_qualifying_new_workers": recruiting,
            "allowlist_qualification": "my-allowlist",
        },
    )

    assert config.qualifications == [
        {
            "qualification_name": "my-allowlist",
            "comparator": comparator,
            "value": None,
            "applicable_providers": None,
        }
    ]
    assert config.user_flags["am_qualifying_new_workers"] is recruiting


def test_command_line_flag_reaches_the_hooks_of_the_pilot_config(settings):
    settings.PUBLIC_URL = "https://crowd.example.org"

    config = load_run_config(
        EXAMPLE_CONF / "pilot_1.yaml", ["am_qualifying_new_workers=false"]
    )

    assert [
        (q["qualification_name"], q["comparator"]) for q in config.qualifications
    ] == [("sentence-rating-allowlist", "Exists")]


def test_hooks_written_next_to_the_task_are_loaded_by_relative_path(tmp_path):
    hooks = (
        "def build_shared_state(cfg):\n"
        "    return {'static_task_data': [{'n': i} for i in range(cfg.num_tasks)]}\n"
    )
    changes = {
        "mephisto.blueprint.data_csv": DELETE,
        "mephisto.blueprint.hooks": "${task_dir}/my_hooks.py",
        "num_tasks": 3,
    }
    path = write_task(tmp_path, config_yaml(changes), files={"my_hooks.py": hooks})

    config = load_run_config(path)

    assert config.rows == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_mock_blueprint_without_data_gets_one_row_per_assignment(tmp_path):
    config = load(
        tmp_path, {"mephisto.blueprint": {"num_assignments": 4}}, blueprint="mock"
    )

    assert config.blueprint_type == "mock"
    assert config.rows == [{}, {}, {}, {}]


def test_config_hash_is_stable_and_changes_with_any_value(tmp_path):
    path = write_task(tmp_path, config_yaml())

    first = load_run_config(path)
    again = load_run_config(path)
    changed = load_run_config(path, ["mephisto.task.task_reward=0.6"])

    assert first.config_hash == again.config_hash
    assert first.config_hash != changed.config_hash


def test_source_yaml_is_the_file_text_byte_for_byte(tmp_path):
    text = config_yaml().replace(
        "defaults:", "# Ünïcode comment, kept as is  \ndefaults:"
    )
    path = write_task(tmp_path, text + "\n\n# trailing comment\n")

    config = load_run_config(path)

    assert config.source_yaml.encode("utf-8") == path.read_bytes()


def test_source_yaml_keeps_windows_line_endings(tmp_path):
    path = write_task(tmp_path, "")
    path.write_bytes(config_yaml().replace("\n", "\r\n").encode("utf-8"))

    config = load_run_config(path)

    assert config.source_yaml.encode("utf-8") == path.read_bytes()
