"""The live task's socket (DESIGN §5, docs/live-tasks.md): mephisto-task 2.0.4's
packets over a real WebSocket of the ASGI server, on the run's hooks functions."""

from __future__ import annotations

import time

import pytest
import requests

from tasks_app.models import Agent, LiveCall
from tests.live_calls import LiveSocket, arrive, launch_live_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run(tmp_path, execute, asgi_live_server):
    return launch_live_run(tmp_path, execute)


@pytest.fixture
def agent_id(run, asgi_live_server):
    return arrive(asgi_live_server.url, run, "alice")["agent_id"]


@pytest.fixture
def socket(asgi_live_server, agent_id):
    socket = LiveSocket(asgi_live_server)
    socket.send("alive", agent_id, {"update_id": "u-alive"})
    yield socket
    socket.close()


def test_the_arrival_gives_mephistos_init_data_shape(run, asgi_live_server):
    details = arrive(asgi_live_server.url, run, "alice")
    assert details["init_task_data"] == {
        "task_data": {"index": 0},
        "previous_requests": [],
    }


def test_a_heartbeat_is_answered_with_the_time_in_milliseconds(socket, agent_id):
    socket.send("heartbeat", agent_id)
    packet = socket.receive()
    assert packet["packet_type"] == "heartbeat"
    assert packet["subject_id"] == agent_id
    assert abs(packet["data"]["last_mephisto_ping"] - time.time() * 1000) < 5000


def test_a_call_is_answered_and_kept_with_the_agent(socket, agent_id):
    request_id = socket.call(agent_id, "echo", {"text": "hi"})
    assert socket.answer(request_id) == {
        "args": {"text": "hi"},
        "index": 0,
        "calls_so_far": ["echo"],
        "requests": [request_id],
        "request_id": request_id,
    }
    call = LiveCall.objects.get()
    assert call.agent.public_id == agent_id
    assert (call.request_id, call.target, call.args) == (
        request_id,
        "echo",
        {"text": "hi"},
    )
    assert call.response["args"] == {"text": "hi"}
    assert call.error == "" and call.answered_at is not None


def test_calls_are_kept_in_the_order_they_came_and_a_reload_sees_them(
    socket, agent_id, run, asgi_live_server
):
    first = socket.call(agent_id, "echo", {"n": 1})
    socket.answer(first)
    second = socket.call(agent_id, "nothing", {"n": 2})
    assert socket.answer(second) is None
    assert [c.args["n"] for c in LiveCall.objects.order_by("pk")] == [1, 2]
    details = arrive(asgi_live_server.url, run, "alice")
    previous = details["init_task_data"]["previous_requests"]
    assert [r["uuid"] for r in previous] == [first, second]
    assert previous[0]["target"] == "echo" and previous[0]["args_json"] == '{"n": 1}'
    assert previous[1]["response_json"] == "null"


@pytest.mark.parametrize(
    ("target", "args", "kind", "words"),
    [
        ("explode", {}, "exception", "explode failed: ValueError: the model is not"),
        ("not_json", {}, "exception", "not JSON serializable"),
        ("missing", {}, "unknown_function", "no function 'missing' on this task"),
    ],
)
def test_a_failing_call_gets_an_error_answer_and_is_kept_failed(
    socket, agent_id, target, args, kind, words
):
    request_id = socket.call(agent_id, target, args)
    answer = socket.answer(request_id)
    assert answer["error_kind"] == kind
    assert words in answer["error"]
    call = LiveCall.objects.get()
    assert (call.error_kind, call.target) == (kind, target)
    assert words in call.error and call.answered_at is not None


def test_arguments_that_are_not_json_are_answered_with_an_error(socket, agent_id):
    socket.send(
        "mephisto_bound_live_update",
        agent_id,
        {"request_id": "r1", "target": "echo", "args": "{not json", "update_id": "u"},
    )
    answer = socket.answer("r1")
    assert answer["error_kind"] == "bad_arguments"
    assert LiveCall.objects.get().args == "{not json"


def test_a_packet_sent_twice_runs_the_function_once(socket, agent_id):
    socket.call(agent_id, "echo", {"n": 1}, request_id="same")
    first = socket.answer("same")
    socket.call(agent_id, "echo", {"n": 1}, request_id="same")
    assert socket.answer("same") == first
    assert LiveCall.objects.count() == 1


def test_a_slow_function_gives_up_at_its_limit_and_others_go_on(
    tmp_path, execute, asgi_live_server
):
    run = launch_live_run(
        tmp_path, execute, extra_blueprint="    remote_call_timeout_s: 1\n"
    )
    alice = arrive(asgi_live_server.url, run, "alice")["agent_id"]
    bob = arrive(asgi_live_server.url, run, "bob")["agent_id"]
    slow_socket, other = LiveSocket(asgi_live_server), LiveSocket(asgi_live_server)
    try:
        slow_request = slow_socket.call(alice, "slow", {})
        # Bob's call is answered while Alice's function holds its thread.
        quick = other.call(bob, "echo", {"n": 1})
        assert other.answer(quick, timeout=5)["args"] == {"n": 1}
        answer = slow_socket.answer(slow_request, timeout=10)
        assert answer == {
            "error": "slow took longer than 1 s and was given up",
            "error_kind": "timeout",
        }
        slow = LiveCall.objects.get(agent__public_id=alice)
        assert slow.error_kind == "timeout"
    finally:
        _release_slow_functions()
        slow_socket.close()
        other.close()


def _release_slow_functions() -> None:
    import sys

    for module in list(sys.modules.values()):
        release = getattr(module, "release", None)
        if getattr(module, "__file__", "") and str(module.__file__).endswith(
            "live_task/hooks.py"
        ):
            release.set()


def test_over_the_rate_limit_a_call_is_answered_rate_limited_and_not_run(
    socket, agent_id, settings
):
    settings.CROWDSITE_LIVE_CALLS_PER_MINUTE = 2
    for n in range(2):
        socket.answer(socket.call(agent_id, "echo", {"n": n}))
    answer = socket.answer(socket.call(agent_id, "echo", {"n": 2}))
    assert answer["error_kind"] == "rate_limited"
    assert "too many calls a minute" in answer["error"]
    assert LiveCall.objects.count() == 2


def test_a_message_over_the_size_limit_closes_the_socket(socket, agent_id, settings):
    settings.CROWDSITE_LIVE_MAX_MESSAGE_BYTES = 1000
    socket.call(agent_id, "echo", {"text": "x" * 2000})
    with pytest.raises(Exception) as closed:
        socket.receive(timeout=5)
    assert "1009" in str(closed.value)
    assert not LiveCall.objects.exists()


def test_after_the_submission_a_call_runs_nothing(
    socket, agent_id, run, asgi_live_server
):
    socket.answer(socket.call(agent_id, "echo", {"n": 1}))
    response = requests.post(
        f"{asgi_live_server.url}/submit_task?task_run_id={run.pk}",
        json={"USED_AGENT_ID": agent_id, "final_data": {"done": True}},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    socket.call(agent_id, "echo", {"n": 2})
    packets = socket.nothing_for(1.5)
    assert [p for p in packets if p["packet_type"] == "client_bound_live_update"] == []
    agent = Agent.objects.get(public_id=agent_id)
    assert agent.submission == {"done": True}
    assert [c.args for c in agent.live_calls.all()] == [{"n": 1}]


def test_when_the_call_cannot_be_kept_the_page_gets_an_error_and_nothing_runs(
    socket, agent_id, monkeypatch
):
    from django.db import OperationalError

    from tasks_app.live import consumer

    def broken(requests):
        raise OperationalError("the database went away")

    monkeypatch.setattr(consumer, "keep_calls", broken)
    answer = socket.answer(socket.call(agent_id, "echo", {}))
    assert answer["error_kind"] == "server_error"
    assert "try again" in answer["error"]
    assert not LiveCall.objects.exists()
