"""A task's hooks for screening and gold units, as a Mephisto run script's
functions are ported (`mephisto.blueprint.hooks: tests.quality_hooks`)."""

from __future__ import annotations

from typing import Any


def screening_data_factory():
    number = 0
    while True:
        number += 1
        yield {
            "text": f"SCREENING UNIT {number}: press the red button",
            "is_screen": True,
        }


def validate_screening_unit(unit_data: dict[str, Any]) -> bool | None:
    outputs = unit_data["outputs"] or {}
    if outputs.get("rating") == "unsure":
        return None
    return outputs.get("rating") == "bad"


def validate_gold_unit(unit_data: dict[str, Any]) -> bool:
    return (unit_data["outputs"] or {}).get("rating") == unit_data["inputs"]["answer"]


def get_gold_for_worker(worker: Any) -> dict[str, Any]:
    return {"text": f"GOLD for {worker['worker_id']}", "answer": "good"}
