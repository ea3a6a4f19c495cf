"""The packets of `mephisto-task` 2.0.4's socket (src/socket_handler.jsx).

Every packet is JSON `{"packet_type", "subject_id": agent id, "data",
"client_timestamp"}`. The page sends `alive` once connected, `heartbeat` every
6 s (without `data`) and `mephisto_bound_live_update` for a call; the server
answers `heartbeat` with `data.last_mephisto_ping` in milliseconds (the page
declares the server dead after 20 s without one), a call with
`client_bound_live_update` and a change of the agent's state with
`update_status`.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

ALIVE = "alive"
HEARTBEAT = "heartbeat"
CALL = "mephisto_bound_live_update"
ANSWER = "client_bound_live_update"
UPDATE_STATUS = "update_status"


@dataclass(frozen=True)
class Packet:
    packet_type: str
    subject_id: str
    data: dict[str, Any]


def parse_packet(text: str | bytes) -> Packet | None:
    """The packet in `text`, or None when it isn't one (it is then dropped)."""
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict):
        return None
    packet_type, subject_id = value.get("packet_type"), value.get("subject_id")
    if not isinstance(packet_type, str) or not isinstance(subject_id, str):
        return None
    data = value.get("data")
    return Packet(packet_type, subject_id, data if isinstance(data, dict) else {})


@dataclass(frozen=True)
class Call:
    """A `mephisto_bound_live_update`: `args` is the parsed JSON, or None with
    `args_error` saying why it couldn't be read."""

    request_id: str
    target: str
    args: Any
    args_error: str = ""


MAX_REQUEST_ID_LENGTH = 64
MAX_TARGET_LENGTH = 200


def read_call(data: dict[str, Any]) -> Call | None:
    """The call in a packet's data, or None when it can't be answered (no
    usable `request_id`: the page couldn't match an answer to it)."""
    request_id = data.get("request_id")
    if (
        not isinstance(request_id, str)
        or not request_id
        or len(request_id) > MAX_REQUEST_ID_LENGTH
    ):
        return None
    target = data.get("target")
    target = target[:MAX_TARGET_LENGTH] if isinstance(target, str) else ""
    raw = data.get("args")
    if raw is None:
        return Call(request_id, target, {})
    if not isinstance(raw, str):
        return Call(request_id, target, raw, "args must be a JSON string")
    try:
        return Call(request_id, target, json.loads(raw))
    except ValueError as exc:
        return Call(request_id, target, raw, f"args are not JSON: {exc}")


def heartbeat(agent_id: str) -> str:
    return _packet(HEARTBEAT, agent_id, {"last_mephisto_ping": int(time.time() * 1000)})


def answer(agent_id: str, request_id: str, response_json: str) -> str:
    return _packet(
        ANSWER,
        agent_id,
        {
            "handles": request_id,
            "response": response_json,
            "update_id": str(uuid.uuid4()),
        },
    )


def update_status(agent_id: str, status: str) -> str:
    return _packet(UPDATE_STATUS, agent_id, {"status": status})


def _packet(packet_type: str, agent_id: str, data: dict[str, Any]) -> str:
    return json.dumps(
        {
            "packet_type": packet_type,
            "subject_id": agent_id,
            "data": data,
            "client_timestamp": time.time(),
        }
    )
