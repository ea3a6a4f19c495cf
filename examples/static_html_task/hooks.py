"""Hooks for the static HTML example: what a Mephisto run script does in Python.

crowdsite calls these by name (see `mephisto.blueprint.hooks` in the config).
"""

from dataclasses import dataclass


@dataclass
class Flags:
    """The run script's own flags (Mephisto's `MyTaskConfig`), so that
    `correct_answer=fancy` works on any config of this task, without `+`."""

    # The onboarding question's answer (a value of onboarding.html's `answer`).
    correct_answer: str = "plain"


def validate_onboarding(onboarding_data, cfg) -> bool:
    """Pass the worker when they picked the config's `correct_answer`.

    `onboarding_data["outputs"]` holds the fields of onboarding.html's form.
    """
    outputs = onboarding_data.get("outputs") or {}
    answer = str(outputs.get("answer", "")).strip().lower()
    return answer == str(cfg.get("correct_answer", "")).strip().lower()
