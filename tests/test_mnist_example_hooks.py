"""The digit-drawing example (examples/remote_procedure_mnist/): its model,
trained on scikit-learn's bundled digits, reads held-out digits; its
`classify_digit` refuses pixels that are not a drawing in plain words; its
configs load and launch with one unit per `num_tasks`. The page itself is
driven in tests/e2e/test_live_mnist_example.py."""

import math

import pytest

from tasks_app.hooks import load_hooks
from tasks_app.models import Assignment, Unit
from tasks_app.run_config import load_run_config
from tasks_app.services import launch_run
from tests.conftest import PROJECT_DIR

EXAMPLE = PROJECT_DIR / "examples" / "remote_procedure_mnist"
CONF = EXAMPLE / "conf"


@pytest.fixture(scope="module")
def hooks():
    return load_hooks(str(EXAMPLE / "hooks.py"))


def a_blank_drawing() -> list[int]:
    return [0] * 64


def test_the_model_reads_more_than_nine_in_ten_held_out_digits(hooks):
    images, labels = hooks.held_out_digits()

    guesses = [
        hooks.classify_digit("r", {"pixels": image}, None)["digit_prediction"]
        for image in images
    ]

    right = sum(guess == label for guess, label in zip(guesses, labels, strict=True))
    assert len(images) > 400  # a quarter of the 1,797 digits
    assert right / len(images) > 0.9


def test_an_answer_is_a_digit_and_the_models_probability_for_it(hooks):
    images, labels = hooks.held_out_digits()

    answer = hooks.classify_digit("r", {"pixels": images[0]}, None)

    assert set(answer) == {"digit_prediction", "confidence"}
    assert type(answer["digit_prediction"]) is int
    assert 0 <= answer["digit_prediction"] <= 9
    assert 0 < answer["confidence"] <= 1


def test_integers_as_the_page_sends_them_are_read(hooks):
    images, _ = hooks.held_out_digits()
    as_sent = [round(value) for value in images[0]]

    answer = hooks.classify_digit("r", {"pixels": as_sent}, None)

    assert (
        answer["digit_prediction"]
        == hooks.classify_digit("r", {"pixels": images[0]}, None)["digit_prediction"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "pixels must be a list of 64 numbers"),
        ({"pixels": "0" * 64}, "pixels must be a list of 64 numbers"),
        ({"pixels": [0] * 63}, "pixels must be a list of 64 numbers"),
        ({"pixels": [0] * 65}, "pixels must be a list of 64 numbers"),
        ({"pixels": [0] * 63 + ["16"]}, "pixels must be numbers, got '16'"),
        ({"pixels": [0] * 63 + [None]}, "pixels must be numbers, got None"),
        ({"pixels": [0] * 63 + [True]}, "pixels must be numbers, got True"),
        ({"pixels": [0] * 63 + [17]}, "each pixel must be from 0 to 16, got 17"),
        ({"pixels": [0] * 63 + [-1]}, "each pixel must be from 0 to 16, got -1"),
        ({"pixels": [0] * 63 + [math.nan]}, "each pixel must be from 0 to 16"),
    ],
)
def test_pixels_that_are_not_a_drawing_are_refused_in_plain_words(hooks, args, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        hooks.classify_digit("r", args, None)


def test_arguments_that_are_not_an_object_are_refused(hooks):
    with pytest.raises(ValueError, match="pixels must be a list of 64 numbers"):
        hooks.classify_digit("r", [a_blank_drawing()], None)


def test_the_registry_names_classify_digit_as_mephistos_example_does(hooks):
    assert hooks.function_registry == {"classify_digit": hooks.classify_digit}


def test_a_screening_unit_passes_on_a_three_the_model_read_right(hooks):
    def unit(*annotations):
        outputs = {"annotations": list(annotations)}
        return {"inputs": {"isScreeningUnit": True}, "outputs": outputs}

    right_three = {"currentAnnotation": 3, "isCorrect": True, "modelPrediction": 3}
    corrected_three = {
        "currentAnnotation": 3,
        "trueAnnotation": 3,
        "isCorrect": False,
        "modelPrediction": 8,
    }
    right_five = {"currentAnnotation": 5, "isCorrect": True, "modelPrediction": 5}

    assert next(hooks.screening_data_factory()) == {"isScreeningUnit": True}
    assert hooks.validate_screening_unit(unit(right_three)) is True
    assert hooks.validate_screening_unit(unit(corrected_three)) is False
    assert hooks.validate_screening_unit(unit(right_five, right_three)) is False
    assert hooks.validate_screening_unit(unit()) is False
    assert hooks.validate_screening_unit({"inputs": {}, "outputs": None}) is False


@pytest.mark.django_db
def test_local_testing_launches_five_plain_units_on_the_mock_provider(execute):
    config = load_run_config(CONF / "local_testing.yaml")

    run = execute(lambda: launch_run(config=config))

    assert run.provider_type == "mock"
    assert config.blueprint["remote_call_timeout_s"] == 10
    assert Unit.objects.filter(run=run).count() == 5
    assert (
        list(Assignment.objects.filter(run=run).values_list("data", flat=True))
        == [{"isScreeningUnit": False}] * 5
    )


@pytest.mark.django_db
def test_num_tasks_sets_the_number_of_units(execute):
    config = load_run_config(CONF / "local_testing.yaml", ["num_tasks=3"])

    run = execute(lambda: launch_run(config=config))

    assert Unit.objects.filter(run=run).count() == 3


def test_the_pilot_asks_for_twenty_units_on_the_sandbox():
    config = load_run_config(
        CONF / "pilot_1.yaml", ["mephisto.architect.public_url=https://tasks.example"]
    )

    assert config.provider_type == "mturk_sandbox"
    assert config.rows == [{"isScreeningUnit": False}] * 20


def test_the_screening_config_screens_with_the_hooks():
    config = load_run_config(CONF / "screening.yaml")

    assert config.blueprint["use_screening_task"] is True
    assert config.blueprint["passed_qualification_name"] == "mnist-screening-passed"
    assert config.blueprint["max_screening_units"] == 3
    assert config.task["allowed_concurrent"] == 1
