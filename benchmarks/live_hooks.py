"""The hooks of the live-task benchmark (benchmarks/live.py): one function that
does nothing, so a round trip measures the platform's own path.

Named in benchmarks/conf/live.yaml as `benchmarks.live_hooks` (the project folder
is on the path of the launch and of the server).
"""

from dataclasses import dataclass


@dataclass
class Flags:
    """`units=N` on the launch: how many units the run has (one a socket)."""

    units: int = 64


def build_shared_state(cfg) -> dict:
    """`units` units, each with its index as its input."""
    return {"static_task_data": [{"index": i} for i in range(int(cfg.units))]}


def noop(request_id, args, agent_state) -> dict:
    """Answer at once with nothing."""
    return {}


function_registry = {"noop": noop}
