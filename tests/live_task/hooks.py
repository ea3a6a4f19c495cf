"""The live-task tests' hooks: functions of every kind a page may call."""

from __future__ import annotations

import threading

release = threading.Event()


def echo(request_id, args, agent_state):
    """Answers with what it got and what it knows of the agent."""
    return {
        "args": args,
        "index": agent_state.init_data["index"],
        "calls_so_far": [call["target"] for call in agent_state.calls],
        "requests": sorted(agent_state.requests),
        "request_id": request_id,
    }


def nothing(request_id, args, agent_state):
    return None


def explode(request_id, args, agent_state):
    raise ValueError("the model is not loaded")


def slow(request_id, args, agent_state):
    """Holds its thread until the test releases it (or 20 s pass)."""
    release.wait(20)
    return {"slow": "done"}


def not_json(request_id, args, agent_state):
    return {"a set": {1, 2}}


function_registry = {
    "echo": echo,
    "nothing": nothing,
    "explode": explode,
    "slow": slow,
    "not_json": not_json,
}
