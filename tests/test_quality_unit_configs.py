"""Screening and gold configs as Mephisto's users write them: Mephisto's own
screening example, unmodified, loads and launches with its run script's
functions as hooks; the example task's screening and gold configs launch; a
FormComposer-style gold config's keys load."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tasks_app.hooks import load_hooks
from tasks_app.models import Assignment, Unit
from tasks_app.run_config import ConfigError, load_run_config
from tasks_app.selectors.quality import Golds, Screening, golds_of, screening_of
from tasks_app.services import launch_run
from tests.conftest import EXAMPLE_CONF, PROJECT_DIR

pytestmark = pytest.mark.django_db

MEPHISTO_TASK = PROJECT_DIR / "tests" / "mephisto_static_react_task"
MEPHISTO_SCREENING = MEPHISTO_TASK / "hydra_configs" / "conf" / "screening_example.yaml"
# The run script's Python lives in a hooks module; the YAML names none.
RUN_SCRIPT_HOOKS = "mephisto.blueprint.hooks=hooks.py"
# Mephisto's file as published (facebookresearch/Mephisto, MIT).
MEPHISTO_SCREENING_SHA256 = (
    "c3c7cf36051a9a1faaedcdf1fbb234276d0a1163b4227f25689cb9711a6c8746"
)
EXAMPLE_ROWS = 6  # examples/static_react_task/data/sentences.csv


@pytest.fixture
def launch(execute):
    def _launch(path: Path, *overrides: str):
        config = load_run_config(path, list(overrides))
        return execute(lambda: launch_run(config=config))

    return _launch


def data_units(run) -> list[tuple[int, int]]:
    return list(
        Unit.objects.filter(run=run)
        .order_by("assignment__row_index", "unit_index")
        .values_list("assignment__row_index", "unit_index")
    )


def test_the_mephisto_screening_config_is_mephistos_file_unmodified():
    digest = hashlib.sha256(MEPHISTO_SCREENING.read_bytes()).hexdigest()

    assert digest == MEPHISTO_SCREENING_SHA256


def test_mephistos_screening_example_loads_with_its_run_scripts_hooks():
    config = load_run_config(MEPHISTO_SCREENING, [RUN_SCRIPT_HOOKS])

    assert config.task_dir == MEPHISTO_TASK
    assert config.blueprint["use_screening_task"] is True
    assert config.blueprint["max_screening_units"] == 3
    assert config.task["allowed_concurrent"] == 1
    assert config.rows == [
        {"text": "This text is good text!"},
        {"text": "This text is bad text!"},
    ]


def test_mephistos_screening_example_launches_on_the_mock_provider(launch):
    run = launch(MEPHISTO_SCREENING, RUN_SCRIPT_HOOKS)

    assert run.provider_type == "mock"
    assert screening_of(run) == Screening(
        passed_name="test-react-static-passed_qualification",
        blocked_name="test-react-static-blocked-qualification",
        max_units=3,
        on_real_units=False,
    )
    # Screening units are made when a worker needs one, not at launch.
    assert data_units(run) == [(0, 0), (1, 0)]


def test_mephistos_screening_example_without_its_run_scripts_functions_is_refused():
    with pytest.raises(ConfigError) as caught:
        load_run_config(MEPHISTO_SCREENING)

    assert caught.value.key == "mephisto.blueprint.hooks"
    assert "validate_screening_unit(unit_data)" in str(caught.value)


def test_the_examples_screening_config_launches_screening_new_workers(launch):
    run = launch(EXAMPLE_CONF / "screening.yaml")

    assert screening_of(run) == Screening(
        passed_name="sentence-rating-screening-passed",
        blocked_name="sentence-rating-screening-blocked",
        max_units=3,
        on_real_units=False,
    )
    assert golds_of(run) is None
    assert run.allowed_concurrent == 1
    assert len(data_units(run)) == EXAMPLE_ROWS


def test_the_examples_gold_config_launches_with_the_golds_of_its_data_file(launch):
    run = launch(EXAMPLE_CONF / "golds.yaml")

    assert golds_of(run) == Golds(
        base="sentence-rating-golds", max_units=20, min_golds=1, max_incorrect=1
    )
    assert screening_of(run) is None
    golds_file = EXAMPLE_CONF.parent / "data" / "golds.jsonl"
    assert run.shared_state["gold_data"] == [
        json.loads(line) for line in golds_file.read_text().splitlines()
    ]
    # The golds are not data rows: only the sentences are the run's assignments.
    assert Assignment.objects.filter(run=run).count() == EXAMPLE_ROWS
    assert len(data_units(run)) == EXAMPLE_ROWS


def test_the_examples_hooks_pass_the_screening_unit_only_on_bad():
    config = load_run_config(EXAMPLE_CONF / "screening.yaml")

    module = load_hooks(config.blueprint["hooks"])
    factory = module.screening_data_factory()
    first, second = next(factory), next(factory)

    assert first == second == {"text": module.SCREENING_TEXT, "is_screen": True}
    assert module.validate_screening_unit(
        {"inputs": first, "outputs": {"rating": "bad"}}
    )
    assert not module.validate_screening_unit(
        {"inputs": first, "outputs": {"rating": "good"}}
    )
    assert not module.validate_screening_unit({"inputs": first, "outputs": None})


# Mephisto's FormComposer demo with gold units, as published
# (form_composer_demo/hydra_configs/conf/example_local_mock_with_gold_unit.yaml);
# the golds come from its run script, here hooks named on the command line.
FORM_COMPOSER_GOLD_CONFIG = """\
#@package _global_

# Copyright (c) Meta Platforms and its affiliates.
# This source code is licensed under the MIT license found in the
# LICENSE file in the root directory of this source tree.

defaults:
  - /mephisto/blueprint: static_react_task
  - /mephisto/architect: local
  - /mephisto/provider: mock

mephisto:
  blueprint:
    data_json: ${task_dir}/data/simple/task_data.json
    task_source: ${task_dir}/webapp/build/bundle.js
    task_source_review: ${task_dir}/webapp/build/bundle.review.js
    link_task_source: false
    extra_source_dir: ${task_dir}/webapp/src/static
    units_per_assignment: 2
    gold_qualification_base: "gold_qualification" # Required for Gold Units
    use_golds: true # Required for Gold Units
    min_golds: 1 # Required for Gold Units
    max_incorrect_golds: 1 # Required for Gold Units
    max_gold_units: 1 # Required for Gold Units
  task:
    allowed_concurrent: 1 # Required for Gold Units
    task_name: "Sample Questionnaire"
    task_title: "Example how to easily create simple form-based Tasks"
    task_description: "In this Task, we use FormComposer feature."
    task_reward: 0
    task_tags: "test,simple,form,form-composer"
    force_rebuild: true
"""

FORM_COMPOSER_GOLD_HOOKS = """\
GOLDS = [{"name": "Ada", "email": "ada@example.org"}]


def get_gold_for_worker(worker):
    return GOLDS[0]


def validate_gold_unit(unit_data):
    return unit_data["outputs"].get("email") == "ada@example.org"
"""


def form_composer_task(folder: Path) -> Path:
    files = {
        "data/simple/task_data.json": json.dumps([{"name": "Bob"}, {"name": "Cy"}]),
        "webapp/build/bundle.js": "// the form app\n",
        "webapp/build/bundle.review.js": "// its review app\n",
        "webapp/src/static/index.html": "<div id='app'></div>\n",
        "hooks.py": FORM_COMPOSER_GOLD_HOOKS,
        "hydra_configs/conf/example_local_mock_with_gold_unit.yaml": (
            FORM_COMPOSER_GOLD_CONFIG
        ),
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder / "hydra_configs" / "conf" / "example_local_mock_with_gold_unit.yaml"


def test_mephistos_form_composer_gold_config_loads_and_launches_with_hooks(
    tmp_path, launch
):
    path = form_composer_task(tmp_path)

    config = load_run_config(path, [RUN_SCRIPT_HOOKS])
    run = launch(path, RUN_SCRIPT_HOOKS)

    assert {
        key: config.blueprint[key]
        for key in (
            "use_golds",
            "gold_qualification_base",
            "min_golds",
            "max_incorrect_golds",
            "max_gold_units",
        )
    } == {
        "use_golds": True,
        "gold_qualification_base": "gold_qualification",
        "min_golds": 1,
        "max_incorrect_golds": 1,
        "max_gold_units": 1,
    }
    assert golds_of(run) == Golds(
        base="gold_qualification", max_units=1, min_golds=1, max_incorrect=1
    )
    assert "gold_data" not in run.shared_state
    assert data_units(run) == [(0, 0), (0, 1), (1, 0), (1, 1)]
