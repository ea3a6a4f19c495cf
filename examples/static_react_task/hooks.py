"""Hooks for the sentence-rating example: what a Mephisto run script does in Python.

crowdsite calls these by name (see `mephisto.blueprint.hooks` in the configs).
"""

TRUE_WORDS = {"1", "true", "yes", "on"}


def _flag(value) -> bool:
    # `am_qualifying_new_workers=false` on the command line arrives as a bool,
    # but a config may also spell it as a string.
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value)


def build_shared_state(cfg) -> dict:
    """Turn `am_qualifying_new_workers` into an allowlist requirement.

    Recruiting (true): only workers *without* the allowlist qualification.
    Collecting (false): only workers *with* it.
    """
    allowlist = cfg.get("allowlist_qualification")
    if not allowlist:
        return {}
    recruiting = _flag(cfg.get("am_qualifying_new_workers", False))
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
