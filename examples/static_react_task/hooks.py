"""Hooks for the sentence-rating example: what a Mephisto run script does in Python.

crowdsite calls these by name (see `mephisto.blueprint.hooks` in the configs). The
screening and gold hooks are called only by the configs that turn those on
(`conf/screening.yaml`, `conf/golds.yaml`); see docs/screening-and-golds.md.
"""

from dataclasses import dataclass


@dataclass
class Flags:
    """The run script's own flags (Mephisto's `MyTaskConfig`): with their types
    and defaults here, `am_qualifying_new_workers=true` works on any config of
    this task, without `+`."""

    # Recruiting (true) admits only workers without the allowlist; collecting
    # (false) only workers with it. No allowlist: no requirement.
    am_qualifying_new_workers: bool = False
    allowlist_qualification: str | None = None
    # The onboarding question's answer.
    correct_answer: str = ""


def build_shared_state(cfg) -> dict:
    """Turn `am_qualifying_new_workers` into an allowlist requirement.

    Recruiting (true): only workers *without* the allowlist qualification.
    Collecting (false): only workers *with* it.
    """
    allowlist = cfg.get("allowlist_qualification")
    if not allowlist:
        return {}
    recruiting = bool(cfg.get("am_qualifying_new_workers", False))
    return {
        "qualifications": [
            {
                "qualification_name": allowlist,
                "comparator": "DoesNotExist" if recruiting else "Exists",
            }
        ],
    }


def validate_onboarding(onboarding_data, cfg) -> bool:
    """Pass the worker when their onboarding answer is the config's `correct_answer`."""
    outputs = onboarding_data.get("outputs") or {}
    answer = str(outputs.get("answer", "")).strip().lower()
    return answer == str(cfg.get("correct_answer", "")).strip().lower()


# Screening (conf/screening.yaml), as Mephisto's static React example screens:
# a unit whose right answer is spelled out, so that a worker who doesn't read the
# sentence gives themselves away. Mephisto's says "Press the red button", its Bad
# button being red; this page's buttons have no colour, so it names the button.
SCREENING_TEXT = "SCREENING UNIT: Press the Bad button"


def screening_data_factory():
    """The inputs of each screening unit handed out (one per worker who needs it)."""
    while True:
        yield {"text": SCREENING_TEXT, "is_screen": True}


def validate_screening_unit(unit_data) -> bool:
    """Pass a worker who pressed Bad, as the unit asked; fail any other answer."""
    outputs = unit_data.get("outputs") or {}
    return outputs.get("rating") == "bad"
