"""Launching a live task (`remote_procedure`): Mephisto's keys, the hooks'
function_registry checked at launch, and every refusal naming its key."""

from __future__ import annotations

import pytest

from crowdsite.config_errors import ConfigError
from tasks_app.run_config import load_run_config
from tests.live_calls import LIVE_TASK_DIR, write_live_config

pytestmark = pytest.mark.django_db


def test_a_live_config_loads_with_mephistos_keys(tmp_path):
    config = load_run_config(
        write_live_config(
            tmp_path,
            units=3,
            extra_blueprint=(
                "    link_task_source: false\n"
                "    units_per_assignment: 2\n"
                "    block_qualification: live-block\n"
            ),
        )
    )
    assert config.blueprint_type == "remote_procedure"
    assert config.unit_count == 6
    assert config.blueprint["remote_call_timeout_s"] == 30.0


def test_a_data_file_gives_the_rows(tmp_path):
    (tmp_path / "rows.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n')
    path = write_live_config(tmp_path, units=0)
    path.write_text(
        path.read_text().replace(
            "    static_task_data: []\n", "    data_jsonl: ${task_dir}/rows.jsonl\n"
        )
    )
    assert load_run_config(path).rows == [{"text": "a"}, {"text": "b"}]


def test_parlai_chat_is_refused_saying_what_to_use(tmp_path):
    path = write_live_config(tmp_path)
    path.write_text(
        path.read_text().replace(
            "blueprint: remote_procedure", "blueprint: parlai_chat"
        )
    )
    with pytest.raises(ConfigError) as refused:
        load_run_config(path)
    message = str(refused.value)
    assert "unknown blueprint 'parlai_chat'" in message
    assert "remote_procedure" in message and "function_registry" in message
    assert "docs/live-tasks.md" in message


def test_a_live_run_without_hooks_is_refused_by_name(tmp_path):
    path = write_live_config(tmp_path)
    text = "\n".join(
        line for line in path.read_text().splitlines() if "hooks:" not in line
    )
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as refused:
        load_run_config(path)
    assert "mephisto.blueprint.hooks" in str(refused.value)
    assert "function_registry" in str(refused.value)


@pytest.mark.parametrize(
    ("hooks", "words"),
    [
        ("def f(): pass\n", "defines no function_registry"),
        ("function_registry = []\n", "must be a non-empty dict"),
        ("function_registry = {}\n", "must be a non-empty dict"),
        ("function_registry = {'f': 3}\n", "'f' is not a function"),
    ],
)
def test_a_bad_function_registry_is_refused(tmp_path, hooks, words):
    (tmp_path / "hooks.py").write_text(hooks)
    path = write_live_config(tmp_path)
    path.write_text(
        path.read_text().replace(
            str(LIVE_TASK_DIR / "hooks.py"), str(tmp_path / "hooks.py")
        )
    )
    with pytest.raises(ConfigError) as refused:
        load_run_config(path)
    assert words in str(refused.value)
    assert "mephisto.blueprint.hooks" in str(refused.value)


@pytest.mark.parametrize("timeout", ["0", "-1", "601"])
def test_a_time_limit_out_of_range_is_refused(tmp_path, timeout):
    path = write_live_config(
        tmp_path, extra_blueprint=f"    remote_call_timeout_s: {timeout}\n"
    )
    with pytest.raises(ConfigError) as refused:
        load_run_config(path)
    assert "mephisto.blueprint.remote_call_timeout_s" in str(refused.value)


def test_an_unknown_key_of_the_blueprint_is_refused_by_name(tmp_path):
    path = write_live_config(tmp_path, extra_blueprint="    remote_timeout: 3\n")
    with pytest.raises(ConfigError) as refused:
        load_run_config(path)
    assert "remote_timeout" in str(refused.value)
