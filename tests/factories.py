"""factory_boy factories for the data model; `TaskRunFactory(units=n)` fills a run."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone

from qualifications_app.models import GrantedQualification, Qualification
from tasks_app.models import (
    Agent,
    Assignment,
    OnboardingAgent,
    Requester,
    Task,
    TaskRun,
    TaskRunStatus,
    Unit,
    UnitStatus,
    Worker,
)


class RequesterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Requester
        django_get_or_create = ("name", "provider_type")

    name = "MOCK_REQUESTER"
    provider_type = "mock"


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task
        django_get_or_create = ("task_name",)

    task_name = factory.Sequence(lambda n: f"task-{n}")
    task_type = "static_react_task"


class TaskRunFactory(factory.django.DjangoModelFactory):
    """A running mock run; `units=n` adds n assignments with one launched unit each.

    `launching=True` is a run still being posted to its provider: its units are
    created, not launched (`units__status=...` picks another status).
    """

    class Meta:
        model = TaskRun
        skip_postgeneration_save = True

    class Params:
        launching = factory.Trait(
            status=TaskRunStatus.LAUNCHING,
            launched_at=None,
            units__status=UnitStatus.CREATED,
        )

    task = factory.SubFactory(TaskFactory)
    requester = factory.SubFactory(RequesterFactory)
    status = "running"
    blueprint_type = "static_react_task"
    architect_type = "local"
    provider_type = "mock"
    config_yaml = "mephisto: {}\n"
    resolved_config = factory.LazyFunction(lambda: {"mephisto": {}})
    config_hash = "0" * 64
    task_title = "Rate a sentence"
    task_description = "Say whether a sentence reads well."
    task_reward = Decimal("0.05")
    assignment_duration_in_seconds = 600
    allowed_concurrent = 0
    maximum_units_per_worker = 0
    max_num_concurrent_units = 0
    no_submission_patience = 43200
    launched_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def units(self, create: bool, extracted: int | None, **kwargs) -> None:
        if not create or not extracted:
            return
        status = kwargs.get("status", UnitStatus.LAUNCHED)
        assignments = Assignment.objects.bulk_create(
            [
                Assignment(run=self, row_index=i, data={"text": f"row {i}"})
                for i in range(extracted)
            ]
        )
        Unit.objects.bulk_create(
            [
                Unit(
                    assignment=a,
                    run=self,
                    unit_index=0,
                    status=status,
                    pay_amount=self.task_reward,
                )
                for a in assignments
            ]
        )


class AssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Assignment

    run = factory.SubFactory(TaskRunFactory)
    row_index = factory.Sequence(int)
    data = factory.LazyFunction(lambda: {"text": "This text is good text!"})


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unit

    assignment = factory.SubFactory(AssignmentFactory)
    run = factory.SelfAttribute("assignment.run")
    unit_index = 0
    status = UnitStatus.LAUNCHED
    pay_amount = Decimal("0.05")


class WorkerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Worker

    provider_type = "mock"
    worker_name = factory.Sequence(lambda n: f"worker-{n}")


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    public_id = factory.Sequence(lambda n: f"agent-{n:08d}")
    unit = factory.SubFactory(UnitFactory, status=UnitStatus.ASSIGNED)
    worker = factory.LazyAttribute(lambda o: o.unit.worker)
    run = factory.SelfAttribute("unit.run")
    status = "in_task"
    registration_id = factory.Sequence(lambda n: f"registration-{n}")
    deadline_at = factory.LazyFunction(
        lambda: timezone.now() + timezone.timedelta(minutes=10)
    )


class OnboardingAgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OnboardingAgent

    public_id = factory.Sequence(lambda n: f"onboarding-{n:08d}")
    run = factory.SubFactory(TaskRunFactory)
    worker = factory.SubFactory(WorkerFactory)
    registration_id = factory.Sequence(lambda n: f"onboarding-registration-{n}")


class QualificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Qualification
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"qualification-{n}")


class GrantedQualificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GrantedQualification

    worker = factory.SubFactory(WorkerFactory)
    qualification = factory.SubFactory(QualificationFactory)
    value = 1
