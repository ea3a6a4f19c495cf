"""Who may use a live task's socket (DESIGN §5): only a working agent of a live
run gets a function called; a forged, stale or foreign id gets no
`client_bound_live_update`, and the socket binds to one agent."""

from __future__ import annotations

import datetime

import pytest
import requests
from django.utils import timezone

from tasks_app.models import Agent, AgentStatus, LiveCall
from tasks_app.services import work
from tests.live_calls import LiveSocket, arrive, launch_live_run

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "client_bound_live_update"


@pytest.fixture
def run(tmp_path, execute, asgi_live_server):
    return launch_live_run(tmp_path, execute)


def answers(packets):
    return [p for p in packets if p["packet_type"] == ANSWER]


def closed_code(socket: LiveSocket) -> int | None:
    try:
        socket.receive(timeout=5)
    except Exception:
        return socket.connection.close_code
    return None


def test_a_forged_agent_id_closes_the_socket_and_runs_nothing(asgi_live_server, run):
    socket = LiveSocket(asgi_live_server)
    socket.call("forged-agent-id", "echo", {"n": 1})
    assert closed_code(socket) == 4403
    assert not LiveCall.objects.exists()


def test_an_agent_of_another_blueprint_closes_the_socket(
    asgi_live_server, tmp_path, execute
):
    from tasks_app.run_config import load_run_config
    from tasks_app.services import launch_run
    from tests.e2e.test_unmodified_mephisto_task import write_config

    static = execute(lambda: launch_run(config=load_run_config(write_config(tmp_path))))
    agent_id = arrive(asgi_live_server.url, static, "alice")["agent_id"]
    assert agent_id
    socket = LiveSocket(asgi_live_server)
    socket.call(agent_id, "echo", {})
    assert closed_code(socket) == 4403
    assert not LiveCall.objects.exists()


def test_the_socket_binds_to_its_first_agent_and_drops_another(asgi_live_server, run):
    alice = arrive(asgi_live_server.url, run, "alice")["agent_id"]
    bob = arrive(asgi_live_server.url, run, "bob")["agent_id"]
    socket = LiveSocket(asgi_live_server)
    socket.send("alive", alice, {})
    socket.call(bob, "echo", {"as": "bob"})
    assert answers(socket.nothing_for(1.5)) == []
    assert not LiveCall.objects.exists()
    # Alice's own calls still work on it.
    assert socket.answer(socket.call(alice, "echo", {"n": 1}))["args"] == {"n": 1}
    assert list(LiveCall.objects.values_list("agent__public_id", flat=True)) == [alice]


def test_a_timed_out_agent_is_told_and_runs_nothing(asgi_live_server, run):
    alice = arrive(asgi_live_server.url, run, "alice")["agent_id"]
    Agent.objects.filter(public_id=alice).update(
        deadline_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    socket = LiveSocket(asgi_live_server)
    socket.call(alice, "echo", {})
    packets = socket.nothing_for(1.5)
    assert answers(packets) == []
    assert {"packet_type": "update_status", "status": "timeout"} in [
        {"packet_type": p["packet_type"], **p["data"]} for p in packets
    ]
    assert not LiveCall.objects.exists()


def test_a_returned_agent_is_told_at_its_next_heartbeat(asgi_live_server, run):
    alice = arrive(asgi_live_server.url, run, "alice")["agent_id"]
    socket = LiveSocket(asgi_live_server)
    socket.send("alive", alice, {})
    response = requests.post(
        f"{asgi_live_server.url}/return_unit?task_run_id={run.pk}",
        json={"USED_AGENT_ID": alice},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    socket.send("heartbeat", alice)
    statuses = [
        p["data"]["status"]
        for p in socket.nothing_for(1.5)
        if p["packet_type"] == "update_status"
    ]
    assert statuses == ["returned"]
    socket.call(alice, "echo", {})
    assert answers(socket.nothing_for(1)) == []
    assert not LiveCall.objects.exists()


def test_with_a_redis_channel_layer_a_timeout_is_pushed_at_once(
    asgi_live_server, run, redis_channel_layer
):
    alice = arrive(asgi_live_server.url, run, "alice")["agent_id"]
    socket = LiveSocket(asgi_live_server)
    socket.send("alive", alice, {})
    socket.nothing_for(0.5)  # bound, in the agent's group
    Agent.objects.filter(public_id=alice).update(
        deadline_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    agent = Agent.objects.get(public_id=alice)
    assert work.expire_agent(agent_id=agent.pk)
    packet = socket.receive(timeout=5)
    assert packet["packet_type"] == "update_status"
    assert packet["data"] == {"status": "timeout"}
    assert Agent.objects.get(pk=agent.pk).status == AgentStatus.TIMEOUT


def test_a_socket_from_another_origin_is_refused(asgi_live_server, run):
    with pytest.raises(Exception) as refused:
        LiveSocket(asgi_live_server, origin="https://evil.example")
    assert "403" in str(refused.value)


def test_an_onboarding_agent_keeps_its_socket_but_calls_nothing(
    asgi_live_server, tmp_path, execute
):
    run = launch_live_run(
        tmp_path,
        execute,
        extra_blueprint="    onboarding_qualification: live-onboarding\n",
        name="live-onboarding",
    )
    details = arrive(asgi_live_server.url, run, "alice")
    onboarding = details["agent_id"]
    assert onboarding.startswith("onboarding")
    assert details["init_task_data"] == {"task_data": {}, "previous_requests": []}
    socket = LiveSocket(asgi_live_server)
    socket.send("heartbeat", onboarding)
    assert socket.receive()["packet_type"] == "heartbeat"
    answer = socket.answer(socket.call(onboarding, "echo", {}))
    assert answer["error_kind"] == "unavailable"
    assert not LiveCall.objects.exists()
