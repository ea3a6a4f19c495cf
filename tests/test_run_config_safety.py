"""What a launch config may reach and store: task files from the task folder only,
data rows a database can hold, upload limits within the site's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks_app.run_config import ConfigError, load_run_config
from tests.run_config_calls import DELETE, config_yaml, write_task


def refusal_of(config: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_run_config(config)
    return caught.value


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("task_source", "/etc/passwd"),
        ("task_source", "${task_dir}/../outside/bundle.js"),
        ("extra_source_dir", "/etc"),
        ("hooks", "/tmp/somewhere/hooks.py"),
    ],
)
def test_a_task_file_outside_the_task_folder_is_refused_with_its_key(
    tmp_path, key, value
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "bundle.js").write_text("stolen()")
    config = write_task(
        tmp_path / "task", config_yaml({f"mephisto.blueprint.{key}": value})
    )

    error = refusal_of(config)

    assert error.key == f"mephisto.blueprint.{key}"
    assert "is outside the task folder" in str(error)
    assert "allowed_source_dirs" in str(error)


def test_a_symlink_in_the_task_folder_pointing_outside_is_refused(tmp_path):
    secret = tmp_path / "elsewhere" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("not for workers")
    config = write_task(tmp_path / "task", config_yaml())
    bundle = tmp_path / "task" / "bundle.js"
    bundle.unlink()
    bundle.symlink_to(secret)

    error = refusal_of(config)

    assert error.key == "mephisto.blueprint.task_source"


def test_an_html_template_outside_the_task_folder_is_refused(tmp_path):
    config = write_task(
        tmp_path / "task",
        config_yaml(
            {
                "mephisto.blueprint.task_source": "${task_dir}/task.html",
                "mephisto.blueprint.preview_source": "/etc/hostname",
            },
            blueprint="static_task",
        ),
        files={"task.html": "<p>${text}</p>"},
    )

    assert refusal_of(config).key == "mephisto.blueprint.preview_source"


def test_a_folder_the_config_names_may_hold_the_bundle(tmp_path):
    shared = tmp_path / "shared-build"
    shared.mkdir()
    (shared / "bundle.js").write_text("task()")
    config = write_task(
        tmp_path / "task",
        config_yaml(
            {
                "mephisto.blueprint.task_source": str(shared / "bundle.js"),
                "mephisto.blueprint.allowed_source_dirs": [str(shared)],
            }
        ),
    )

    loaded = load_run_config(config)

    assert loaded.blueprint["task_source"] == str(shared / "bundle.js")


def test_a_named_folder_that_does_not_exist_is_refused(tmp_path):
    config = write_task(
        tmp_path,
        config_yaml({"mephisto.blueprint.allowed_source_dirs": ["/no/such/dir"]}),
    )

    assert refusal_of(config).key == "mephisto.blueprint.allowed_source_dirs[0]"


UNSTORABLE = [
    ("\\u0000", "contains a NUL character"),
    ("\\ud800", "lone surrogate"),
]


@pytest.mark.parametrize(("escape", "words"), UNSTORABLE)
def test_a_jsonl_row_the_database_cant_store_is_refused_naming_file_and_row(
    tmp_path, escape, words
):
    rows = '{"text": "fine"}\n{"text": "bad ' + escape + '"}\n'
    config = write_task(
        tmp_path,
        config_yaml(
            {
                "mephisto.blueprint.data_csv": DELETE,
                "mephisto.blueprint.data_jsonl": "${task_dir}/rows.jsonl",
            }
        ),
        files={"rows.jsonl": rows},
    )

    error = refusal_of(config)

    assert error.key == "mephisto.blueprint.data_jsonl"
    assert f"{tmp_path / 'rows.jsonl'} row 2 " in str(error)
    assert words in str(error)


def test_a_csv_row_with_a_nul_character_is_refused_naming_the_row(tmp_path):
    config = write_task(tmp_path, config_yaml(), files={"data.csv": "text\nok\nb\0d\n"})

    error = refusal_of(config)

    assert error.key == "mephisto.blueprint.data_csv"
    assert "row 2 contains a NUL character" in str(error)


def test_a_json_row_with_nan_or_a_nul_in_a_field_name_is_refused(tmp_path):
    rows = [{"score": 1}, {"text\u0000": "x"}, {"score": float("nan")}]
    config = write_task(
        tmp_path,
        config_yaml(
            {
                "mephisto.blueprint.data_csv": DELETE,
                "mephisto.blueprint.data_json": "${task_dir}/rows.json",
            }
        ),
        files={"rows.json": json.dumps(rows)},
    )

    assert "row 2 contains a NUL character" in str(refusal_of(config))


@pytest.mark.parametrize(
    ("limit", "value"),
    [("max_files", 0), ("max_files", 11), ("max_file_bytes", 20_000_001)],
)
def test_upload_limits_past_the_sites_ceiling_are_refused(tmp_path, limit, value):
    config = write_task(
        tmp_path,
        config_yaml({"mephisto.blueprint.uploads": {"enabled": True, limit: value}}),
    )

    error = refusal_of(config)

    assert error.key == f"mephisto.blueprint.uploads.{limit}"
    assert "this site's CROWDSITE_MAX_UPLOAD_" in str(error)


def test_an_upload_type_the_site_does_not_accept_is_refused(tmp_path):
    config = write_task(
        tmp_path,
        config_yaml(
            {"mephisto.blueprint.uploads": {"enabled": True, "extensions": ["exe"]}}
        ),
    )

    assert refusal_of(config).key == "mephisto.blueprint.uploads.extensions[0]"


def test_an_unknown_upload_key_is_refused_by_name(tmp_path):
    config = write_task(
        tmp_path,
        config_yaml({"mephisto.blueprint.uploads": {"enabled": True, "max_gb": 1}}),
    )

    assert "max_gb" in str(refusal_of(config))
