"""The operator's admin pages render for a superuser; adding a worker works."""

from __future__ import annotations

import pytest
from django.contrib import admin
from rest_framework.test import APIClient

from tasks_app import services
from tasks_app.models import Payment, Unit, Worker
from tasks_app.services.arrival import new_agent_id
from tests.factories import (
    AgentFactory,
    OnboardingAgentFactory,
    TaskRunFactory,
    WorkerFactory,
)
from tests.worker_calls import agent_id_for, submit_task

pytestmark = pytest.mark.django_db

ADD_WORKER = "/admin/tasks_app/worker/add/"
REGISTERED = sorted(
    f"{model._meta.app_label}.{model._meta.model_name}"
    for model in admin.site._registry
)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # admin_client's superuser is created with a password; hash it cheaply.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_add_worker_page_renders_without_the_change_page_links(admin_client):
    response = admin_client.get(ADD_WORKER)

    assert response.status_code == 200
    assert b'name="worker_name"' in response.content
    assert b'name="provider_type"' in response.content
    assert b'id="worker-standing"' not in response.content


def test_a_worker_can_be_added_in_the_admin(admin_client):
    response = admin_client.post(
        ADD_WORKER, {"provider_type": "mturk", "worker_name": "A1B2C3D4E5"}
    )

    assert response.status_code == 302
    worker = Worker.objects.get()
    assert (worker.provider_type, worker.worker_name) == ("mturk", "A1B2C3D4E5")
    assert worker.is_blocked is False


def test_an_added_sandbox_worker_gets_the_sandbox_suffix(admin_client):
    admin_client.post(
        ADD_WORKER, {"provider_type": "mturk_sandbox", "worker_name": "A1B2C3D4E5"}
    )

    assert Worker.objects.get().worker_name == "A1B2C3D4E5_sandbox"


def test_adding_a_bad_or_known_worker_id_is_refused_with_the_reason(admin_client):
    WorkerFactory(provider_type="mock", worker_name="alice")

    bad = admin_client.post(ADD_WORKER, {"provider_type": "mock", "worker_name": "a b"})
    known = admin_client.post(
        ADD_WORKER, {"provider_type": "mock", "worker_name": "alice"}
    )

    assert bad.status_code == 200
    assert b"is not a valid worker id" in bad.content
    assert known.status_code == 200
    assert b"already exists" in known.content
    assert Worker.objects.count() == 1


def test_a_workers_change_page_still_shows_its_standing(admin_client):
    worker = WorkerFactory()

    response = admin_client.get(f"/admin/tasks_app/worker/{worker.pk}/change/")

    assert response.status_code == 200
    assert b'id="worker-standing"' in response.content
    assert f"/admin/tasks_app/worker/{worker.pk}/block/".encode() in response.content


@pytest.mark.parametrize("model", REGISTERED)
def test_every_admin_add_page_and_list_answers_without_an_error(admin_client, model):
    app_label, model_name = model.split(".")

    add = admin_client.get(f"/admin/{app_label}/{model_name}/add/")
    changelist = admin_client.get(f"/admin/{app_label}/{model_name}/")

    assert add.status_code in (200, 403)
    assert changelist.status_code == 200


@pytest.mark.parametrize(
    ("factory", "onboarding"),
    [(AgentFactory, False), (OnboardingAgentFactory, True)],
)
def test_an_agent_is_found_by_the_reference_its_template_showed(
    admin_client, factory, onboarding
):
    # A static template's ${mephisto_agent_id} is the id cut to 8 random characters.
    def make():
        public_id = new_agent_id(onboarding=onboarding)
        if onboarding:
            return factory(public_id=public_id)
        return factory(public_id=public_id, unit__worker=WorkerFactory())

    wanted, other = make(), make()
    reference = wanted.public_id[: len("onboarding-") * onboarding + 8]
    model_name = wanted._meta.model_name

    response = admin_client.get(f"/admin/tasks_app/{model_name}/", {"q": reference})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [wanted]
    assert not other.public_id.startswith(reference)


def test_the_payments_ledger_is_listed_and_read_only(
    admin_client, django_capture_on_commit_callbacks
):
    run = TaskRunFactory(units=1, task_reward="0.40")
    client = APIClient()
    submit_task(client, run, agent_id_for(client, run), {"rating": "good"})
    with django_capture_on_commit_callbacks(execute=True):
        services.approve_unit(unit_id=Unit.objects.get(run=run).pk)
    payment = Payment.objects.get()

    listing = admin_client.get("/admin/tasks_app/payment/")
    change = admin_client.post(
        f"/admin/tasks_app/payment/{payment.pk}/change/", {"amount": "9.99"}
    )

    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [payment]
    assert "0.40" in listing.content.decode()
    assert change.status_code == 403
    payment.refresh_from_db()
    assert (str(payment.amount), payment.state) == ("0.40", "paid")
