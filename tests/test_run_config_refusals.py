"""Loading a launch config (DESIGN §4): a bad config is refused with the key path and
what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks_app.run_config import ConfigError, load_run_config
from tests.run_config_calls import DELETE, TWO_ROWS, config_yaml, load, write_task


def refusal(tmp_path: Path, changes: dict | None = None, **groups: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, changes, **groups)
    return caught.value


# --------------------------------------------------------------------------
# Bad configs: refused with the key path and what was expected
# --------------------------------------------------------------------------


def test_malformed_yaml_is_refused_with_its_line_number(tmp_path):
    path = write_task(tmp_path, "mephisto:\n  task: [unclosed\n  title: x\n")

    with pytest.raises(ConfigError, match="malformed YAML") as caught:
        load_run_config(path)

    assert f"{path}:3:" in str(caught.value)


def test_yaml_list_instead_of_mapping_is_refused(tmp_path):
    path = write_task(tmp_path, "- mephisto\n- task\n")

    with pytest.raises(ConfigError, match="must hold a mapping.*not list"):
        load_run_config(path)


def test_missing_config_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_run_config(tmp_path / "nowhere.yaml")


@pytest.mark.parametrize(
    "key",
    [
        "mephisto.task.task_title",
        "mephisto.task.task_description",
        "mephisto.task.task_reward",
        "mephisto.blueprint.task_source",
    ],
)
def test_missing_required_field_is_refused(tmp_path, key):
    error = refusal(tmp_path, {key: DELETE})

    assert error.key == key
    assert str(error) == f"{key}: required, but missing"


@pytest.mark.parametrize(
    ("group", "valid"),
    [
        ("blueprint", "static_react_task, static_task, remote_procedure, mock"),
        ("architect", "local, server"),
        ("provider", "mock, mturk_sandbox, mturk, prolific"),
    ],
)
def test_unknown_group_option_is_refused_listing_the_valid_ones(tmp_path, group, valid):
    error = refusal(tmp_path, **{group: "nonesuch"})

    assert error.key == f"mephisto.{group}"
    assert f"unknown {group} 'nonesuch'" in str(error)
    assert f"valid {group}s are: {valid}" in str(error)


def test_heroku_architect_is_refused_pointing_to_local_or_server(tmp_path):
    error = refusal(tmp_path, architect="heroku")

    assert error.key == "mephisto.architect"
    assert "use `local`, or `server`" in str(error)


@pytest.mark.parametrize(
    ("changes", "key", "expected"),
    [
        pytest.param(
            {"mephisto.task.task_reward": "abc"},
            "mephisto.task.task_reward",
            "could not be converted to Float",
            id="reward-not-a-number",
        ),
        pytest.param(
            {"mephisto.task.task_reward": -0.5},
            "mephisto.task.task_reward",
            "must be 0 or more",
            id="negative-reward",
        ),
        pytest.param(
            {"mephisto.task.task_reward": float("inf")},
            "mephisto.task.task_reward",
            "must be 0 or more",
            id="infinite-reward",
        ),
        pytest.param(
            {"mephisto.blueprint.units_per_assignment": 0},
            "mephisto.blueprint.units_per_assignment",
            "must be 1 or more",
            id="zero-units-per-assignment",
        ),
    ],
)
def test_bad_value_is_refused_saying_what_was_expected(
    tmp_path, changes, key, expected
):
    error = refusal(tmp_path, changes)

    assert error.key == key
    assert str(error).startswith(f"{key}: ")
    assert expected in str(error)


@pytest.mark.parametrize(
    ("changes", "files", "key", "expected"),
    [
        pytest.param(
            {"mephisto.blueprint.data_csv": "${task_dir}/absent.csv"},
            {},
            "mephisto.blueprint.data_csv",
            "file not found",
            id="missing-file",
        ),
        pytest.param(
            {},
            {"data.csv": "\n"},
            "mephisto.blueprint.data_csv",
            "is empty",
            id="empty-file",
        ),
        pytest.param(
            {},
            {"data.csv": "text\n"},
            "mephisto.blueprint.data_csv",
            "has a header but no rows",
            id="csv-header-only",
        ),
        pytest.param(
            {
                "mephisto.blueprint.data_csv": DELETE,
                "mephisto.blueprint.data_json": "${task_dir}/rows.json",
            },
            {"rows.json": '[\n  {"text": "a"},\n  {text: "b"}\n]\n'},
            "mephisto.blueprint.data_json",
            "rows.json:3:",
            id="invalid-json",
        ),
    ],
)
def test_bad_data_file_is_refused(tmp_path, changes, files, key, expected):
    path = write_task(tmp_path, config_yaml(changes), files=files)

    with pytest.raises(ConfigError) as caught:
        load_run_config(path)

    assert caught.value.key == key
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("requirement", "key", "expected"),
    [
        pytest.param(
            {"comparator": "Bigger", "value": 3},
            "comparator",
            "valid comparators are: GreaterThan, GreaterThanOrEqualTo, LessThan, "
            "LessThanOrEqualTo, EqualTo, NotEqualTo, Exists, DoesNotExist, In, NotIn",
            id="unknown-comparator",
        ),
        pytest.param(
            {"comparator": "Exists", "value": 1},
            "value",
            "Exists takes no value",
            id="value-given-to-exists",
        ),
        pytest.param(
            {"comparator": "In", "value": 3},
            "value",
            "In needs a list of integers",
            id="non-list-to-in",
        ),
    ],
)
def test_bad_qualification_requirement_is_refused(tmp_path, requirement, key, expected):
    requirements = [{"qualification_name": "approval", **requirement}]

    error = refusal(tmp_path, {"mephisto.task.qualifications": requirements})

    assert error.key == f"mephisto.task.qualifications[0].{key}"
    assert expected in str(error)


@pytest.mark.parametrize(
    "key", ["mephisto.task.colour", "mephisto.blueprint.colour", "mephisto.colour"]
)
def test_unknown_key_under_mephisto_is_refused(tmp_path, key):
    error = refusal(tmp_path, {key: "red"})

    assert error.key == key
    assert str(error).startswith(f"{key}: unknown key")


def test_live_provider_with_local_architect_is_refused(tmp_path):
    error = refusal(tmp_path, provider="mturk")

    assert error.key == "mephisto.architect"
    assert "use `/mephisto/architect: server`" in str(error)


def test_server_architect_without_public_url_is_refused(tmp_path, settings):
    settings.PUBLIC_URL = ""

    error = refusal(tmp_path, architect="server")

    assert error.key == "mephisto.architect.public_url"
    assert "set PUBLIC_URL" in str(error)


def test_two_data_sources_at_once_are_refused(tmp_path):
    changes = {"mephisto.blueprint.static_task_data": TWO_ROWS}

    error = refusal(tmp_path, changes)

    assert error.key == "mephisto.blueprint"
    assert "give the data rows one way, not 2 (data_csv, static_task_data)" in str(
        error
    )
