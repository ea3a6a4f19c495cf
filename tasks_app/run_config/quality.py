"""A launch config's screening and gold units, checked as Mephisto's mixins
assert them (`ScreenTaskRequired`, `UseGoldUnit`), before anything is written.

Screening (`use_screening_task`) needs `passed_qualification_name`,
`block_qualification` and `max_screening_units`; above 0 the hooks give the
screening units' inputs (`screening_data_factory`, a generator function), at 0
workers are screened on real units. Golds (`use_golds`) need
`gold_qualification_base` and `max_gold_units`, and their inputs from the
`get_gold_for_worker` hook or a gold data file (`gold_data_jsonl`, `_json`,
`_csv`: rows of `inputs` and `expected`). Both need `allowed_concurrent: 1` and
are refused together. A key set while its feature is off would be ignored, so
it is refused by name.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from crowdsite.config_errors import ConfigError
from tasks_app import hooks as task_hooks
from tasks_app.json_values import unstorable_reason
from tasks_app.run_config.requirements import config_hooks
from tasks_app.run_config.rows import read_data_file

SCREENING_KEYS = {
    "passed_qualification_name": None,
    "max_screening_units": None,
}
GOLD_KEYS = {
    "gold_qualification_base": None,
    "max_gold_units": None,
    "min_golds": 1,
    "max_incorrect_golds": 0,
}
GOLD_DATA_KEYS = ("gold_data_jsonl", "gold_data_json", "gold_data_csv")
# Prefix of a gold CSV's expected-answer columns (`expected.rating`).
EXPECTED_PREFIX = "expected."


def check_quality_units(resolved: dict[str, Any], task_dir: Path) -> dict[str, Any]:
    """Check the screening and gold settings; what they add to the run's shared
    state (`gold_data`: the gold data file's rows), else {}."""
    blueprint = resolved["mephisto"]["blueprint"]
    screening = blueprint.get("use_screening_task") is True
    golds = blueprint.get("use_golds") is True
    if screening and golds:
        raise ConfigError(
            "screening units and gold units can't be used in one run, as in "
            "Mephisto: set use_screening_task or use_golds to false",
            key="mephisto.blueprint.use_screening_task",
        )
    _refuse_unused(blueprint, SCREENING_KEYS, on=screening, switch="use_screening_task")
    _refuse_unused(
        blueprint,
        {**GOLD_KEYS, **dict.fromkeys(GOLD_DATA_KEYS)},
        on=golds,
        switch="use_golds",
    )
    if not screening and not golds:
        return {}
    allowed = resolved["mephisto"]["task"].get("allowed_concurrent")
    if allowed != 1:
        which = "screening units" if screening else "gold units"
        raise ConfigError(
            f"{which} need one unit at a time per worker, so that a worker is "
            f"judged before they get more (got {allowed}); set it to 1",
            key="mephisto.task.allowed_concurrent",
        )
    hooks = _hooks(resolved, task_dir)
    if screening:
        _check_screening(blueprint, hooks)
        return {}
    return _check_golds(blueprint, hooks)


def _refuse_unused(
    blueprint: dict[str, Any], keys: dict[str, Any], *, on: bool, switch: str
) -> None:
    if on:
        return
    for key, default in keys.items():
        if key in blueprint and blueprint[key] != default:
            raise ConfigError(
                f"set to {blueprint[key]!r}, but {switch} is false, so crowdsite "
                f"would ignore it; remove it, or set {switch}: true",
                key=f"mephisto.blueprint.{key}",
            )


def _hooks(resolved: dict[str, Any], task_dir: Path) -> dict[str, Any]:
    module = config_hooks(resolved, task_dir)
    return {
        name: getattr(module, name)
        for name in task_hooks.QUALITY_HOOK_NAMES
        if module is not None and hasattr(module, name)
    }


def _required_name(blueprint: dict[str, Any], key: str, what: str) -> str:
    value = blueprint.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"required to use {what}", key=f"mephisto.blueprint.{key}")
    return value


def _count(blueprint: dict[str, Any], key: str, what: str, *, default: Any) -> int:
    value = blueprint.get(key, default)
    if value is None:
        raise ConfigError(
            f"required to use {what} (as in Mephisto): the most of them you will "
            "pay for in this run",
            key=f"mephisto.blueprint.{key}",
        )
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"must be a whole number, 0 or more (got {value!r})",
            key=f"mephisto.blueprint.{key}",
        )
    return value


def _check_screening(blueprint: dict[str, Any], hooks: dict[str, Any]) -> None:
    what = "screening units"
    passed = _required_name(blueprint, "passed_qualification_name", what)
    blocked = _required_name(blueprint, "block_qualification", what)
    if passed == blocked:
        raise ConfigError(
            f"must differ from block_qualification (both {passed!r}): a pass and "
            "a fail would be the same grant",
            key="mephisto.blueprint.passed_qualification_name",
        )
    max_units = _count(blueprint, "max_screening_units", what, default=None)
    if not callable(hooks.get("validate_screening_unit")):
        raise ConfigError(
            "screening needs a validate_screening_unit(unit_data) function in the "
            "task's hooks module (mephisto.blueprint.hooks): it judges each "
            "screening submission (True: passed, False: blocked, None: undecided)",
            key="mephisto.blueprint.hooks",
        )
    factory = hooks.get("screening_data_factory")
    if max_units > 0:
        if not inspect.isgeneratorfunction(factory):
            raise ConfigError(
                f"max_screening_units is {max_units}, so the hooks must define "
                "screening_data_factory() as a generator function yielding each "
                "screening unit's inputs (or set max_screening_units to 0 to "
                "screen workers on real units, Mephisto's "
                "screening_data_factory=False)",
                key="mephisto.blueprint.hooks",
            )
    elif factory not in (None, False):
        raise ConfigError(
            "is 0, which screens workers on real units, but the hooks define "
            "screening_data_factory: set max_screening_units above 0 to make "
            "screening units from it",
            key="mephisto.blueprint.max_screening_units",
        )


def _check_golds(blueprint: dict[str, Any], hooks: dict[str, Any]) -> dict[str, Any]:
    what = "gold units"
    _required_name(blueprint, "gold_qualification_base", what)
    _count(blueprint, "max_gold_units", what, default=None)
    _count(blueprint, "min_golds", what, default=1)
    _count(blueprint, "max_incorrect_golds", what, default=0)
    files = [key for key in GOLD_DATA_KEYS if blueprint.get(key)]
    factory = hooks.get("get_gold_for_worker")
    if len(files) > 1 or (files and factory is not None):
        sources = [*files, *(["the get_gold_for_worker hook"] if factory else [])]
        raise ConfigError(
            f"give the golds one way, not {len(sources)} ({', '.join(sources)})",
            key="mephisto.blueprint",
        )
    if factory is not None:
        if not callable(factory):
            raise ConfigError(
                "get_gold_for_worker in the hooks must be a function",
                key="mephisto.blueprint.hooks",
            )
        if not callable(hooks.get("validate_gold_unit")):
            raise ConfigError(
                "golds from get_gold_for_worker need a validate_gold_unit(unit_data) "
                "function in the hooks too: it says whether a gold was answered "
                "right",
                key="mephisto.blueprint.hooks",
            )
        return {}
    if not files:
        raise ConfigError(
            "gold units need their inputs: a get_gold_for_worker(worker) function "
            "in the hooks, or a gold data file (gold_data_jsonl, gold_data_json or "
            "gold_data_csv) whose rows carry inputs and the expected answer",
            key="mephisto.blueprint.use_golds",
        )
    return {"gold_data": _gold_rows(blueprint, files[0])}


def _gold_rows(blueprint: dict[str, Any], source: str) -> list[dict[str, Any]]:
    key = f"mephisto.blueprint.{source}"
    path = Path(blueprint[source])
    raw = read_data_file(path, source.removeprefix("gold_"), key)
    if not raw:
        raise ConfigError(f"{path} has no golds", key=key)
    golds = []
    for number, row in enumerate(raw, start=1):
        where = f"{path} row {number}"
        if source == "gold_data_csv":
            row = {
                "inputs": {
                    k: v for k, v in row.items() if not k.startswith(EXPECTED_PREFIX)
                },
                "expected": {
                    k.removeprefix(EXPECTED_PREFIX): v
                    for k, v in row.items()
                    if k.startswith(EXPECTED_PREFIX)
                },
            }
        if not isinstance(row, dict) or not isinstance(row.get("inputs"), dict):
            raise ConfigError(
                f"{where} must be an object with 'inputs' (the gold's fields) and "
                "'expected' (the right answer's output fields)",
                key=key,
            )
        expected = row.get("expected")
        if not isinstance(expected, dict) or not expected:
            raise ConfigError(
                f"{where} has no expected answer: give 'expected' as an object of "
                "the output fields to compare"
                + (" (CSV: columns named expected.<field>)" if "csv" in source else ""),
                key=key,
            )
        unknown = sorted(set(row) - {"inputs", "expected"})
        if unknown:
            raise ConfigError(
                f"{where} has keys {unknown}; a gold row has only 'inputs' and "
                "'expected'",
                key=key,
            )
        problem = unstorable_reason(row)
        if problem:
            raise ConfigError(
                f"{where} {problem}; the database can't store it", key=key
            )
        golds.append({"inputs": row["inputs"], "expected": expected})
    return golds
