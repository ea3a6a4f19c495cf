"""Screening and gold configs that can't be honoured are refused before anything
is written, naming the key (Mephisto's mixin assertions, and more)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks_app.run_config import ConfigError
from tests.run_config_calls import load

HOOKS = "tests.quality_hooks"
SCREENING = {
    "mephisto.blueprint.use_screening_task": True,
    "mephisto.blueprint.passed_qualification_name": "screened",
    "mephisto.blueprint.block_qualification": "screen-failed",
    "mephisto.blueprint.max_screening_units": 3,
    "mephisto.blueprint.hooks": HOOKS,
    "mephisto.task.allowed_concurrent": 1,
}
GOLDS = {
    "mephisto.blueprint.use_golds": True,
    "mephisto.blueprint.gold_qualification_base": "gq",
    "mephisto.blueprint.max_gold_units": 5,
    "mephisto.blueprint.hooks": HOOKS,
    "mephisto.task.allowed_concurrent": 1,
}


def refusal(tmp_path: Path, changes: dict) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, changes)
    return caught.value


def test_a_screening_config_with_its_hooks_loads(tmp_path):
    config = load(tmp_path, SCREENING)

    assert config.resolved["mephisto"]["blueprint"]["max_screening_units"] == 3


def test_screening_and_golds_together_are_refused_naming_both(tmp_path):
    error = refusal(tmp_path, {**SCREENING, **GOLDS})

    assert "mephisto.blueprint.use_screening_task" in str(error)
    assert "use_screening_task or use_golds" in str(error)


@pytest.mark.parametrize("changes", [SCREENING, GOLDS])
def test_more_than_one_unit_at_a_time_is_refused(tmp_path, changes):
    error = refusal(tmp_path, {**changes, "mephisto.task.allowed_concurrent": 0})

    assert "mephisto.task.allowed_concurrent" in str(error)
    assert "one unit at a time per worker" in str(error)


@pytest.mark.parametrize(
    "key",
    [
        "mephisto.blueprint.max_screening_units",
        "mephisto.blueprint.passed_qualification_name",
        "mephisto.blueprint.block_qualification",
    ],
)
def test_each_key_screening_needs_is_required(tmp_path, key):
    changes = {k: v for k, v in SCREENING.items() if k != key}

    error = refusal(tmp_path, changes)

    assert key in str(error)
    assert "required to use screening units" in str(error)


@pytest.mark.parametrize(
    "key",
    ["mephisto.blueprint.max_gold_units", "mephisto.blueprint.gold_qualification_base"],
)
def test_each_key_golds_need_is_required(tmp_path, key):
    error = refusal(tmp_path, {k: v for k, v in GOLDS.items() if k != key})

    assert key in str(error)
    assert "required to use gold units" in str(error)


def test_screening_units_without_a_generator_in_the_hooks_are_refused(tmp_path):
    error = refusal(tmp_path, {**SCREENING, "mephisto.blueprint.hooks": None})

    assert "validate_screening_unit" in str(error)


def test_screening_on_real_units_with_a_generator_is_refused(tmp_path):
    error = refusal(
        tmp_path, {**SCREENING, "mephisto.blueprint.max_screening_units": 0}
    )

    assert "mephisto.blueprint.max_screening_units" in str(error)
    assert "screens workers on real units" in str(error)


def test_golds_without_inputs_are_refused(tmp_path):
    error = refusal(tmp_path, {**GOLDS, "mephisto.blueprint.hooks": None})

    assert "gold units need their inputs" in str(error)


@pytest.mark.parametrize(
    "key, value",
    [
        ("mephisto.blueprint.max_screening_units", 3),
        ("mephisto.blueprint.passed_qualification_name", "screened"),
        ("mephisto.blueprint.max_gold_units", 5),
        ("mephisto.blueprint.min_golds", 2),
        ("mephisto.blueprint.gold_data_jsonl", "golds.jsonl"),
    ],
)
def test_a_key_set_while_its_feature_is_off_is_refused_by_name(tmp_path, key, value):
    error = refusal(tmp_path, {key: value})

    assert key in str(error)
    assert "would ignore it" in str(error)


def test_a_gold_data_file_row_without_an_expected_answer_is_refused(tmp_path):
    (tmp_path / "golds.jsonl").write_text('{"inputs": {"text": "a"}}\n')
    changes = {
        **GOLDS,
        "mephisto.blueprint.hooks": None,
        "mephisto.blueprint.gold_data_jsonl": "${task_dir}/golds.jsonl",
    }

    error = refusal(tmp_path, changes)

    assert "mephisto.blueprint.gold_data_jsonl" in str(error)
    assert "row 1 has no expected answer" in str(error)


def test_a_gold_csv_takes_expected_columns_as_the_answer(tmp_path):
    (tmp_path / "golds.csv").write_text("text,expected.rating\nA gold,good\n")
    changes = {
        **GOLDS,
        "mephisto.blueprint.hooks": None,
        "mephisto.blueprint.gold_data_csv": "${task_dir}/golds.csv",
    }

    config = load(tmp_path, changes)

    assert config.shared_state["gold_data"] == [
        {"inputs": {"text": "A gold"}, "expected": {"rating": "good"}}
    ]


def test_golds_given_two_ways_are_refused(tmp_path):
    (tmp_path / "golds.jsonl").write_text(
        '{"inputs": {"text": "a"}, "expected": {"rating": "good"}}\n'
    )
    changes = {**GOLDS, "mephisto.blueprint.gold_data_jsonl": "${task_dir}/golds.jsonl"}

    error = refusal(tmp_path, changes)

    assert "give the golds one way, not 2" in str(error)
