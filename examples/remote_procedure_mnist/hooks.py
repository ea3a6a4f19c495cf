"""Hooks for the digit-drawing example: Mephisto's `remote_procedure/mnist`
run script, ported to a hooks module.

Where the parts of Mephisto's `run_task.py` went:

- `tasks = [{"isScreeningUnit": False}] * cfg.num_tasks` and
  `SharedRemoteProcedureTaskState(static_task_data=tasks, ...)`: the
  `build_shared_state(cfg)` hook below; `num_tasks` is a flag of `Flags`, so
  `num_tasks=20` overrides it on the command line without `+`.
- `mnist_model = mnist(pretrained=True)`, a torch model whose weights were
  downloaded: a scikit-learn classifier trained on scikit-learn's bundled
  `load_digits()` (8x8 images, no download). It is trained once per process,
  at launch (`build_shared_state` trains it, so a model that can't be trained
  or is no good refuses the launch) and on the first call in a web process.
- `handle_with_model(_request_id, args, agent_state)`, which decoded a PNG
  with PIL and resized it to 28x28: `classify_digit` below. The page
  downsamples the drawing to 8x8 itself and sends the 64 numbers, so the
  server needs no image library.
- `function_registry = {"classify_digit": handle_with_model}`: the same
  name here.
- `my_screening_unit_generator` and `validate_screening_unit(unit)`: the
  hooks `screening_data_factory` and `validate_screening_unit(unit_data)`,
  used by `conf/screening.yaml` only.
- `build_custom_bundle(...)`, `operator.launch_task_run(...)` and
  `wait_for_runs_then_shutdown`: gone. The bundle is built with npm and
  committed (webapp/README), and `python manage.py launch_run` launches.
"""

import functools
import math
from dataclasses import dataclass
from typing import Any

# The images are 8x8 and each pixel counts the inked cells of a 4x4 block of a
# 32x32 bitmap, so a value runs from 0 (white) to 16 (black).
PIXELS = 64
MAX_PIXEL = 16
# A quarter of the digits is kept out of training to check the model at launch
# (and in the tests); the split is fixed so every process trains the same model.
HELD_OUT_FRACTION = 0.25
SPLIT_SEED = 0
MIN_HELD_OUT_ACCURACY = 0.9


@dataclass
class Flags:
    """The run script's own flags (Mephisto's `cfg.num_tasks`)."""

    # Units to launch, each asking for up to three drawn digits.
    num_tasks: int = 5


def held_out_digits() -> tuple[list[list[float]], list[int]]:
    """The digits the model is not trained on: (pixel rows, labels)."""
    return _split()[1]


@functools.cache
def _split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data,
        digits.target,
        test_size=HELD_OUT_FRACTION,
        random_state=SPLIT_SEED,
        stratify=digits.target,
    )
    return (x_train, y_train), (x_test.tolist(), y_test.tolist())


@functools.cache
def trained_model():
    """The classifier, trained on first use and kept for the process."""
    # Imported here so that loading the hooks (every launch check does) stays
    # cheap; only a live run's first call, or its launch, pays for training.
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    (x_train, y_train), (x_test, y_test) = _split()
    # An RBF SVC recognises drawn digits better than a linear model once they
    # are downsampled; the calibration gives the page a probability to show.
    model = CalibratedClassifierCV(SVC(gamma=0.001), ensemble=False)
    model.fit(x_train, y_train)
    accuracy = model.score(x_test, y_test)
    if accuracy < MIN_HELD_OUT_ACCURACY:
        raise RuntimeError(
            f"the digit model is right on {accuracy:.1%} of the held-out digits, "
            f"below {MIN_HELD_OUT_ACCURACY:.0%}"
        )
    return model


def build_shared_state(cfg) -> dict:
    """One unit per `num_tasks`, each a plain (not screening) unit; the model is
    trained now so that a model that can't be trained stops the launch."""
    trained_model()
    num_tasks = int(cfg["num_tasks"])
    return {"static_task_data": [{"isScreeningUnit": False}] * num_tasks}


def classify_digit(request_id: str, args: dict, agent_state: Any) -> dict:
    """The page's `remoteProcedure("classify_digit")`: guess the digit drawn.

    `args["pixels"]` is the drawing downsampled to 8x8, 64 numbers from 0
    (white) to 16 (black), row by row. Returns the guess and the model's
    probability for it.
    """
    pixels = _checked_pixels(args.get("pixels") if isinstance(args, dict) else None)
    probabilities = trained_model().predict_proba([pixels])[0]
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return {
        "digit_prediction": int(trained_model().classes_[best]),
        "confidence": round(float(probabilities[best]), 4),
    }


def _checked_pixels(pixels: Any) -> list[float]:
    if not isinstance(pixels, list) or len(pixels) != PIXELS:
        raise ValueError(
            f"pixels must be a list of {PIXELS} numbers (the drawing as 8x8)"
        )
    for value in pixels:
        # bool is an int in Python, but true/false is not a pixel.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"pixels must be numbers, got {value!r}")
        if not (math.isfinite(value) and 0 <= value <= MAX_PIXEL):
            raise ValueError(f"each pixel must be from 0 to {MAX_PIXEL}, got {value!r}")
    return [float(value) for value in pixels]


function_registry = {"classify_digit": classify_digit}


# Screening (conf/screening.yaml), as Mephisto's mnist example screens: the
# screening unit asks for a 3, and the page shows one canvas for it.
def screening_data_factory():
    """The inputs of each screening unit handed out."""
    while True:
        yield {"isScreeningUnit": True}


def validate_screening_unit(unit_data) -> bool:
    """Pass a worker whose first digit is a 3 the model read right."""
    outputs = unit_data.get("outputs") or {}
    annotations = outputs.get("annotations") or []
    if not annotations or not isinstance(annotations[0], dict):
        return False
    first = annotations[0]
    return first.get("isCorrect") is True and first.get("currentAnnotation") == 3
