"""The digit-drawing example (examples/remote_procedure_mnist/) in Chromium: a
worker draws digits with the mouse, each stroke is sent to the server's
`classify_digit` over the WebSocket and the model's guess shown, the worker
confirms or corrects it, and the submission is Mephisto's mnist
`{"annotations": [...]}`, with each call kept as a `LiveCall` of the agent."""

import json
import math
import time

import pytest
from playwright.sync_api import expect

from tasks_app.models import Agent, AgentStatus, TaskRun, UnitStatus
from tests.command_calls import run_json
from tests.conftest import PROJECT_DIR
from tests.e2e.pages import task_url

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = PROJECT_DIR / "examples" / "remote_procedure_mnist"
CONFIG = EXAMPLE / "conf" / "local_testing.yaml"
# Strokes in the 280x280 canvas's pixels, each drawn with the pen down.
ONE = [[(140, 40), (140, 240)]]
# A 1 with a flag and a foot, as many write it: the model reads a 2.
ONE_WITH_A_FOOT = [[(90, 100), (150, 40), (150, 240)], [(100, 240), (200, 240)]]


@pytest.fixture
def run(asgi_live_server) -> TaskRun:
    assert (EXAMPLE / "webapp" / "build" / "bundle.js").is_file(), (
        f"the bundle is missing: cd {EXAMPLE / 'webapp'} && npm ci && npm run build"
    )
    launched = run_json("launch_run", "--config", str(CONFIG))
    return TaskRun.objects.get(pk=launched["task_run_id"])


def draw(page, strokes: list[list[tuple[int, int]]]) -> None:
    """Draw with the mouse, as a worker does."""
    left, top = page.locator("#canvas").evaluate(
        "(canvas) => { const box = canvas.getBoundingClientRect();"
        " return [box.left + canvas.clientLeft, box.top + canvas.clientTop]; }"
    )
    for (x, y), *rest in strokes:
        page.mouse.move(left + x, top + y)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(left + x, top + y, steps=12)
        page.mouse.up()


@pytest.fixture
def answers(page) -> list[dict]:
    """The answers the page received over its WebSocket, in order. (Read from
    the socket rather than the database, which the server is writing to.)"""
    received: list[dict] = []

    def on_frame(payload) -> None:
        data = json.loads(payload).get("data") or {}
        if "handles" in data:
            received.append(json.loads(data["response"]))

    page.on("websocket", lambda socket: socket.on("framereceived", on_frame))
    return received


def shown_guess(page, answers: list[dict], count: int) -> int:
    """Wait until the page has its `count`-th answer (one call per stroke) and
    shows it; return the digit guessed."""
    deadline = time.monotonic() + 15
    while len(answers) < count:
        assert time.monotonic() < deadline, f"answer {count} never came: {answers}"
        page.wait_for_timeout(50)  # the page's events are delivered meanwhile
    answer = answers[count - 1]
    # As the page rounds (JavaScript's Math.round: halves up).
    percent = math.floor(answer["confidence"] * 100 + 0.5)
    expect(page.locator("#prediction")).to_have_text(
        f"The model thinks this is a {answer['digit_prediction']} ({percent}%)"
    )
    return answer["digit_prediction"]


def judge(page, drawn: int, guess: int) -> dict:
    """Confirm the guess when right, else type the digit drawn; keep it.
    Returns the annotation the page should send for it."""
    keep = page.locator("#keep")
    expect(keep).to_be_disabled()  # neither confirmed nor corrected yet
    page.fill("#correction", "12")
    expect(keep).to_be_disabled()  # not a digit
    if guess == drawn:
        page.check("#is-correct")
        expected = {"currentAnnotation": drawn, "isCorrect": True}
    else:
        page.fill("#correction", str(drawn))
        expected = {"currentAnnotation": drawn, "trueAnnotation": drawn}
        expected["isCorrect"] = False
    keep.click()
    # Kept: the canvas is cleared for the next digit.
    expect(page.locator("#prediction")).to_have_text(
        "Draw a digit and the model will guess it."
    )
    return {**expected, "modelPrediction": guess}


def test_a_worker_draws_two_digits_and_the_models_guesses_are_kept_with_them(
    page, screenshot, asgi_live_server, run, traffic, answers
):
    page.goto(task_url(asgi_live_server, run, "alice"))
    page.locator("#canvas").wait_for()
    expect(page.locator("#submit")).to_be_disabled()

    draw(page, ONE)
    first_guess = shown_guess(page, answers, 1)
    screenshot("a-one-guessed")
    first = judge(page, 1, first_guess)
    # Classify on an empty canvas is answered by the page, not the server.
    page.click("#classify")
    expect(page.locator("#prediction-error")).to_have_text("Draw a digit first.")

    draw(page, ONE_WITH_A_FOOT)  # two strokes, two calls
    second_guess = shown_guess(page, answers, 3)
    screenshot("a-one-with-a-foot-guessed")
    second = judge(page, 1, second_guess)
    expect(page.locator("#annotations li")).to_have_count(2)
    screenshot("two-digits-kept")
    page.click("#submit")
    page.locator("#crowdsite-thanks").wait_for()

    agent = Agent.objects.select_related("unit__assignment").get(
        worker__worker_name="alice"
    )
    assert agent.unit.assignment.data == {"isScreeningUnit": False}
    assert agent.submission == {"annotations": [first, second]}
    assert agent.status == AgentStatus.COMPLETED
    assert agent.unit.status == UnitStatus.COMPLETED
    calls = list(agent.live_calls.order_by("pk"))
    # One call when each stroke ended, answered in order.
    assert [(call.target, call.error) for call in calls] == [
        ("classify_digit", ""),
    ] * 3
    assert calls[0].response["digit_prediction"] == first_guess
    assert calls[2].response["digit_prediction"] == second_guess
    assert all(0 < call.response["confidence"] <= 1 for call in calls)
    assert all(call.answered_at is not None for call in calls)
    assert len({call.request_id for call in calls}) == 3
    one = calls[0].args["pixels"]
    assert len(one) == 64
    assert all(type(value) is int and 0 <= value <= 16 for value in one)
    # The vertical stroke, centred as the data set's digits are: the middle
    # two columns of each row, nothing elsewhere.
    rows = [one[8 * row : 8 * row + 8] for row in range(8)]
    assert all(row[3] > 0 and row[4] > 0 for row in rows)
    assert all(value == 0 for row in rows for value in row[:3] + row[5:])
    assert all(status < 400 for _, _, status in traffic["responses"]), traffic
    assert traffic["console"] == []
