"""Mephisto's examples/static_react_task/run_task.py, as crowdsite hooks: the run
script's shared state and screening functions, named for crowdsite to call.

Named on the command line (`mephisto.blueprint.hooks=hooks.py`), so that the
config beside it stays Mephisto's own.
"""


def build_shared_state(cfg) -> dict:
    """The run script's `SharedStaticTaskState(static_task_data=...)`."""
    return {
        "static_task_data": [
            {"text": "This text is good text!"},
            {"text": "This text is bad text!"},
        ]
    }


def screening_data_factory():
    """The run script's `shared_state.screening_data_factory`."""
    while True:
        yield {"text": "SCREENING UNIT: Press the red button", "is_screen": True}


def validate_screening_unit(unit_data) -> bool:
    """The run script's validation function: the red button is "bad"."""
    outputs = unit_data.get("outputs")
    return outputs is not None and outputs.get("rating") == "bad"
