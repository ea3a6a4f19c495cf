"""Hooks for the static HTML example: what a Mephisto run script does in Python.

crowdsite calls these by name (see `mephisto.blueprint.hooks` in the config).
"""


def validate_onboarding(onboarding_data, cfg) -> bool:
    """Pass the worker when they picked the config's `correct_answer`.

    `onboarding_data["outputs"]` holds the fields of onboarding.html's form.
    """
    outputs = onboarding_data.get("outputs") or {}
    answer = str(outputs.get("answer", "")).strip().lower()
    return answer == str(cfg.get("correct_answer", "")).strip().lower()
