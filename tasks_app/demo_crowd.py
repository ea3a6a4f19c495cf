"""A scripted mock crowd for the demo: workers who use the real HTTP endpoints.

The demo serves this Django project on a free local port in a background thread
and sends each worker through the wire protocol as a task page would.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def local_server() -> Iterator[str]:
    """Serve the project on 127.0.0.1 at a free port; yields the base URL."""
    server = ThreadedWSGIServer(
        ("127.0.0.1", 0), QuietHandler, allow_reuse_address=True
    )
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class MockWorker:
    """A worker of the mock provider, talking to the server like a task page."""

    base_url: str
    run_id: int
    name: str
    onboarding_answer: str = "good"
    log: list[str] = field(default_factory=list)

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.base_url}/{endpoint}?task_run_id={self.run_id}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def request_agent(self, assignment: str) -> dict[str, Any]:
        return self.post(
            "request_agent",
            {
                "provider_data": {
                    "worker_name": self.name,
                    "assignment_id": assignment,
                    "agent_registration_id": f"{self.name}-{assignment}",
                    "provider_type": "mock",
                }
            },
        )["data"]

    def work(self, *, units: int) -> int:
        """Try to do `units` units; returns how many were submitted."""
        done = 0
        for number in range(1, units + 1):
            details = self.request_agent(f"{self.name}-assignment-{number}")
            if details["agent_id"] and details["agent_id"].startswith("onboarding"):
                self.log.append(f"got onboarding; answers {self.onboarding_answer!r}")
                details = self.post(
                    "submit_onboarding",
                    {
                        "provider_data": {
                            "USED_AGENT_ID": details["agent_id"],
                            "onboarding_data": {"answer": self.onboarding_answer},
                        }
                    },
                )["data"]
            if not details["agent_id"]:
                self.log.append(f"refused: {details['failure_reason']}")
                break
            text = (details["init_task_data"] or {}).get("text", "")
            rating = "bad" if "bad" in text or "the the" in text else "good"
            self.post(
                "submit_task",
                {
                    "USED_AGENT_ID": details["agent_id"],
                    "final_data": {"rating": rating},
                },
            )
            done += 1
            self.log.append(f"unit {number}: rated {text!r} as {rating}")
        return done
