"""A worker's arrival as the worker API makes it, and runs that try one rule."""

from __future__ import annotations

from tasks_app import services
from tasks_app.models import Agent
from tests.factories import (
    GrantedQualificationFactory,
    QualificationFactory,
    TaskRunFactory,
    WorkerFactory,
)

NO_UNITS_LEFT = "There are no units left in this task for you right now."
NOT_RUNNING = "This task is not accepting work right now."
RUN_ENDED = "There are no units left in this task: it has ended."


def register(run, worker_name="worker-1", registration=None):
    return services.register_agent(
        run=run,
        worker_name=worker_name,
        registration_id=registration or f"{worker_name}-registration",
    )


def agent_of(details) -> Agent:
    return Agent.objects.select_related("unit", "worker").get(
        public_id=details.agent_id
    )


def run_requiring(comparator, value=None, **requirement):
    QualificationFactory(name="skill")
    return TaskRunFactory(
        units=1,
        qualifications=[
            {
                "qualification_name": "skill",
                "comparator": comparator,
                "value": value,
                **requirement,
            }
        ],
    )


def worker_holding(value, name="worker-1"):
    worker = WorkerFactory(worker_name=name)
    if value is not None:
        GrantedQualificationFactory(
            worker=worker, qualification=QualificationFactory(name="skill"), value=value
        )
    return worker
