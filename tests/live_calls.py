"""Helpers of the live-task tests: a live run from a hooks file, a worker's
HTTP arrival, and a socket speaking `mephisto-task` 2.0.4's packets."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from websockets.sync.client import ClientConnection, connect

from tasks_app.models import TaskRun
from tasks_app.run_config import load_run_config
from tasks_app.services import launch_run

LIVE_TASK_DIR = Path(__file__).resolve().parent / "live_task"


def write_live_config(
    folder: Path, *, units: int = 2, extra_blueprint: str = "", name: str = "live"
) -> Path:
    """A remote_procedure config on the mock provider, with the test hooks."""
    (folder / "bundle.js").write_text("/* the page's app */\n", encoding="utf-8")
    rows = json.dumps([{"index": i} for i in range(units)])
    config = folder / f"{name}.yaml"
    config.write_text(
        "#@package _global_\n"
        "defaults:\n"
        "  - /mephisto/blueprint: remote_procedure\n"
        "  - /mephisto/architect: local\n"
        "  - /mephisto/provider: mock\n"
        "mephisto:\n"
        "  blueprint:\n"
        "    task_source: ${task_dir}/bundle.js\n"
        f"    hooks: {json.dumps(str(LIVE_TASK_DIR / 'hooks.py'))}\n"
        f"    allowed_source_dirs: [{json.dumps(str(LIVE_TASK_DIR))}]\n"
        f"    static_task_data: {rows}\n"
        f"{extra_blueprint}"
        "  task:\n"
        f"    task_name: {name}-task\n"
        '    task_title: "Talk to a model"\n'
        '    task_description: "A live task."\n'
        "    task_reward: 0.05\n",
        encoding="utf-8",
    )
    return config


def launch_live_run(folder: Path, execute, **kwargs: Any) -> TaskRun:
    config = write_live_config(folder, **kwargs)
    return execute(lambda: launch_run(config=load_run_config(config)))


def arrive(server_url: str, run: TaskRun, worker: str) -> dict[str, Any]:
    """The `agent_details` data of `worker` arriving at `run` over HTTP."""
    response = requests.post(
        f"{server_url}/request_agent?task_run_id={run.pk}",
        json={
            "provider_data": {
                "worker_name": worker,
                "agent_registration_id": f"{worker}-reg",
                "assignment_id": f"{worker}-assignment",
                "provider_type": "mock",
            },
            "client_timestamp": time.time(),
        },
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["data"]


class LiveSocket:
    """A page's socket: `mephisto-task`'s packets, read with a timeout."""

    def __init__(self, server, *, origin: str | None = None) -> None:
        self.connection: ClientConnection = connect(
            server.ws_url,
            origin=origin or server.url,  # type: ignore[arg-type]
            open_timeout=10,
            max_size=None,
        ).__enter__()

    def send(self, packet_type: str, agent_id: str, data: dict | None = None) -> None:
        packet: dict[str, Any] = {
            "packet_type": packet_type,
            "subject_id": agent_id,
            "client_timestamp": time.time(),
        }
        if data is not None:
            packet["data"] = data
        self.connection.send(json.dumps(packet))

    def call(self, agent_id: str, target: str, args: Any, request_id: str = "") -> str:
        request_id = request_id or str(uuid.uuid4())
        self.send(
            "mephisto_bound_live_update",
            agent_id,
            {
                "request_id": request_id,
                "target": target,
                "args": json.dumps(args),
                "update_id": str(uuid.uuid4()),
            },
        )
        return request_id

    def receive(self, timeout: float = 10) -> dict[str, Any]:
        return json.loads(self.connection.recv(timeout=timeout))

    def answer(self, request_id: str, timeout: float = 10) -> Any:
        """The response to `request_id`, skipping heartbeats and statuses."""
        deadline = time.monotonic() + timeout
        while True:
            packet = self.receive(max(0.01, deadline - time.monotonic()))
            if packet["packet_type"] == "client_bound_live_update":
                assert packet["data"]["handles"] == request_id, packet
                return json.loads(packet["data"]["response"])

    def nothing_for(self, seconds: float) -> list[dict[str, Any]]:
        """The packets received within `seconds` (the test expects none of a kind)."""
        seen = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                seen.append(self.receive(left))
            except TimeoutError:
                break
        return seen

    def close(self) -> None:
        self.connection.close()
