"""Loading a launch config as Mephisto does (DESIGN §4): every Mephisto default is
overridable without `+`, a task's `Flags` declare its own flags, Mephisto's task
names and CSV files with a byte-order mark load, and keys crowdsite doesn't act on
yet are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks_app.run_config import ConfigError, load_run_config
from tests.conftest import PROJECT_DIR
from tests.run_config_calls import config_yaml, write_task

FLAGS_HOOKS = """\
from dataclasses import dataclass


@dataclass
class Flags:
    am_qualifying_new_workers: bool = False
    correct_answer: str = "blue"
    num_tasks: int = 3
"""


def task_config(tmp_path: Path, changes: dict | None = None, **files: str) -> Path:
    return write_task(tmp_path, config_yaml(changes), files=files or None)


def prolific_yaml() -> str:
    return config_yaml(
        {"mephisto.architect.public_url": "https://tasks.example.org"},
        architect="server",
        provider="prolific",
    )


def refused(path: Path, *overrides: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_run_config(path, list(overrides))
    return caught.value


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("mephisto.task.allowed_concurrent=1", "allowed_concurrent", 1),
        ("mephisto.task.assignment_duration_in_seconds=120", None, 120),
        ("mephisto.task.maximum_units_per_worker=4", "maximum_units_per_worker", 4),
        ("mephisto.task.task_lifetime_in_seconds=60", "task_lifetime_in_seconds", 60),
        ("mephisto.task.no_submission_patience=60", "no_submission_patience", 60),
        ("mephisto.task.max_num_concurrent_units=5", "max_num_concurrent_units", 5),
    ],
)
def test_a_mephisto_default_the_yaml_doesnt_mention_is_overridden_without_plus(
    tmp_path, override, key, value
):
    key = key or override.split("=")[0].rsplit(".", 1)[1]

    config = load_run_config(task_config(tmp_path), [override])

    assert config.task[key] == value


def test_the_log_level_is_overridden_without_plus(tmp_path):
    config = load_run_config(task_config(tmp_path), ["mephisto.log_level=debug"])

    assert config.resolved["mephisto"]["log_level"] == "debug"


def test_an_unknown_log_level_is_refused_with_the_valid_ones(tmp_path):
    error = refused(task_config(tmp_path), "mephisto.log_level=loud")

    assert error.key == "mephisto.log_level"
    assert "debug, info, warning" in str(error)


def test_plus_on_a_mephisto_default_is_refused_as_in_mephisto(tmp_path):
    error = refused(task_config(tmp_path), "+mephisto.task.allowed_concurrent=1")

    assert "remove + prefix" in str(error)


def test_an_unknown_task_key_is_still_refused_with_a_suggestion(tmp_path):
    error = refused(task_config(tmp_path), "mephisto.task.alowed_concurrent=1")

    assert "alowed_concurrent" in str(error)


def test_a_schema_key_deleted_with_tilde_is_refused_with_words(tmp_path):
    error = refused(task_config(tmp_path), "~mephisto.task.task_reward")

    assert error.key == "mephisto.task.task_reward"
    assert "can't delete it" in str(error)


def test_the_hooks_flags_give_defaults_and_types_to_the_tasks_own_flags(tmp_path):
    path = task_config(
        tmp_path,
        {"mephisto.blueprint.hooks": "${task_dir}/hooks.py"},
        **{"hooks.py": FLAGS_HOOKS},
    )

    default = load_run_config(path)
    overridden = load_run_config(
        path, ["am_qualifying_new_workers=true", "correct_answer=orange"]
    )

    assert default.user_flags == {
        "am_qualifying_new_workers": False,
        "correct_answer": "blue",
        "num_tasks": 3,
    }
    assert overridden.user_flags["am_qualifying_new_workers"] is True
    assert overridden.user_flags["correct_answer"] == "orange"


def test_flags_in_a_hooks_file_with_postponed_annotations_load(tmp_path):
    path = task_config(
        tmp_path,
        {"mephisto.blueprint.hooks": "${task_dir}/hooks.py"},
        **{"hooks.py": "from __future__ import annotations\n" + FLAGS_HOOKS},
    )

    assert load_run_config(path, ["num_tasks=5"]).user_flags["num_tasks"] == 5


def test_a_flag_of_the_wrong_type_is_refused_with_its_key_path(tmp_path):
    path = task_config(
        tmp_path,
        {"mephisto.blueprint.hooks": "${task_dir}/hooks.py"},
        **{"hooks.py": FLAGS_HOOKS},
    )

    error = refused(path, "num_tasks=many")

    assert "num_tasks" in str(error)


def test_a_flag_neither_declared_nor_in_the_yaml_still_needs_plus(tmp_path):
    path = task_config(tmp_path)

    error = refused(path, "correct_answer=orange")
    config = load_run_config(path, ["+correct_answer=orange"])

    assert "+correct_answer=orange" in str(error)
    assert config.user_flags == {"correct_answer": "orange"}


def test_flags_that_are_not_a_dataclass_are_refused(tmp_path):
    path = task_config(
        tmp_path,
        {"mephisto.blueprint.hooks": "${task_dir}/hooks.py"},
        **{"hooks.py": "class Flags:\n    num_tasks = 3\n"},
    )

    error = refused(path)

    assert error.key == "mephisto.blueprint.hooks"
    assert "must be a dataclass" in str(error)


def test_a_flag_named_like_the_configs_own_keys_is_refused(tmp_path):
    hooks = "from dataclasses import dataclass\n\n@dataclass\nclass Flags:\n"
    path = task_config(
        tmp_path,
        {"mephisto.blueprint.hooks": "${task_dir}/hooks.py"},
        **{"hooks.py": hooks + "    task_dir: str = ''\n"},
    )

    error = refused(path)

    assert "task_dir" in str(error) and "rename the flag" in str(error)


def test_the_example_task_takes_am_qualifying_new_workers_without_plus():
    example = Path(__file__).resolve().parent.parent / "examples" / "static_react_task"

    config = load_run_config(
        example / "conf" / "local_testing.yaml",
        ["am_qualifying_new_workers=true", "allowlist_qualification=my-allowlist"],
    )

    assert config.qualifications == [
        {
            "qualification_name": "my-allowlist",
            "comparator": "DoesNotExist",
            "value": None,
            "applicable_providers": None,
        }
    ]


@pytest.mark.parametrize(
    "name", ["Sample Questionnaire", "Video annotator", "ratings (v2) / pilot"]
)
def test_task_names_as_mephisto_allows_them_load(tmp_path, name):
    config = load_run_config(task_config(tmp_path, {"mephisto.task.task_name": name}))

    assert config.task["task_name"] == name


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("   ", "must not be empty"),
        (" padded", "must not start or end with a space"),
        ("tab\there", "control characters"),
        ("x" * 201, "at most 200 characters"),
    ],
)
def test_task_names_that_cant_be_told_apart_are_refused(tmp_path, name, words):
    error = refused(task_config(tmp_path, {"mephisto.task.task_name": name}))

    assert error.key == "mephisto.task.task_name"
    assert words in str(error)


def test_a_csv_with_a_byte_order_mark_names_its_first_column_plainly(tmp_path):
    path = task_config(tmp_path)
    (tmp_path / "data.csv").write_bytes(
        "\ufeffcharacter_name,line\nAlice,hello\n".encode()
    )

    config = load_run_config(path)

    assert config.rows == [{"character_name": "Alice", "line": "hello"}]


@pytest.mark.parametrize(
    ("overrides", "key", "says"),
    [
        (
            ["mephisto.blueprint.use_screening_task=true"],
            "mephisto.task.allowed_concurrent",
            "one unit at a time per worker",
        ),
        (
            [
                "mephisto.blueprint.use_screening_task=true",
                "mephisto.task.allowed_concurrent=1",
            ],
            "mephisto.blueprint.passed_qualification_name",
            "required to use screening units",
        ),
        (
            ["mephisto.blueprint.max_screening_units=3"],
            "mephisto.blueprint.max_screening_units",
            "use_screening_task is false, so crowdsite would ignore it",
        ),
        (
            ["mephisto.blueprint.min_golds=2"],
            "mephisto.blueprint.min_golds",
            "use_golds is false, so crowdsite would ignore it",
        ),
        (
            ["mephisto.blueprint.use_golds=true", "mephisto.task.allowed_concurrent=1"],
            "mephisto.blueprint.gold_qualification_base",
            "required to use gold units",
        ),
    ],
)
def test_screening_and_gold_keys_half_set_are_refused_by_name(
    tmp_path, overrides, key, says
):
    error = refused(task_config(tmp_path), *overrides)

    assert error.key == key
    assert says in str(error)


def test_screening_and_golds_left_off_load(tmp_path):
    config = load_run_config(
        task_config(tmp_path),
        ["mephisto.blueprint.use_golds=false", "mephisto.blueprint.min_golds=1"],
    )

    assert config.blueprint["use_golds"] is False


@pytest.mark.parametrize(
    ("override", "says"),
    [
        (
            "mephisto.provider.prolific_eligibility_requirements="
            "[{name:ApprovalRateEligibilityRequirement}]",
            "needs minimum_approval_rate or maximum_approval_rate",
        ),
        (
            "mephisto.provider.prolific_eligibility_requirements="
            "[{name:JoinedBeforeEligibilityRequirement,joined_before:2020-01-01}]",
            "JoinedBeforeEligibilityRequirement",
        ),
        ("mephisto.provider.prolific_workspace_name=Lab", "(got 'Lab')"),
        ("mephisto.provider.prolific_id_option=question", "url_parameters"),
        (
            "mephisto.provider.prolific_external_study_url=https://example.org",
            "its own task page",
        ),
    ],
)
def test_prolific_keys_crowdsite_cant_honour_are_refused_by_name(
    tmp_path, override, says
):
    path = write_task(tmp_path, prolific_yaml())

    error = refused(path, override)

    assert error.key == "mephisto.provider." + override.split("=")[0].rsplit(".")[-1]
    assert says in str(error)


def test_prolific_keys_crowdsite_honours_load(tmp_path):
    path = write_task(tmp_path, prolific_yaml())

    config = load_run_config(
        path,
        [
            "mephisto.provider.prolific_eligibility_requirements="
            "[{name:ApprovalRateEligibilityRequirement,minimum_approval_rate:95}]",
            "mephisto.provider.prolific_project_name=Sentences",
            "mephisto.provider.prolific_allow_list_group_name=Good raters",
        ],
    )

    assert config.provider["prolific_project_name"] == "Sentences"
    assert config.provider["prolific_eligibility_requirements"] == [
        {"name": "ApprovalRateEligibilityRequirement", "minimum_approval_rate": 95}
    ]


def test_the_prolific_completion_time_crowdsite_uses_loads(tmp_path):
    path = write_task(tmp_path, prolific_yaml())

    config = load_run_config(
        path, ["mephisto.provider.prolific_estimated_completion_time_in_minutes=9"]
    )

    assert config.provider["prolific_estimated_completion_time_in_minutes"] == 9


@pytest.mark.parametrize(
    "config",
    [
        "static_react_task/conf/local_testing.yaml",
        "static_html_task/conf/local_testing.yaml",
    ],
)
def test_the_examples_hooks_declare_the_flags_their_configs_use(config):
    path = PROJECT_DIR / "examples" / config

    overridden = load_run_config(path, ["correct_answer=fancy"])

    assert overridden.user_flags["correct_answer"] == "fancy"
