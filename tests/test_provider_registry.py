"""The registry is the one list of providers: every other list is read from it."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from providers.registry import (
    PROVIDER_CHOICES,
    PROVIDER_CLASSES,
    get_provider_class,
    specific_state_keys,
)
from tasks_app.models import Requester, TaskRun, Worker
from tasks_app.run_config import schema as run_config_schema


@pytest.mark.parametrize("provider_type", PROVIDER_CLASSES)
def test_each_provider_is_registered_under_its_own_name(provider_type):
    provider_class = get_provider_class(provider_type)
    args = OmegaConf.structured(provider_class.args_class)

    assert provider_class.provider_type == provider_type
    assert args._provider_type == provider_type


def test_the_models_and_the_config_schema_name_the_registered_providers():
    for model in (Requester, TaskRun, Worker):
        assert model._meta.get_field("provider_type").choices == PROVIDER_CHOICES
    assert list(run_config_schema.PROVIDERS) == list(PROVIDER_CLASSES)


def test_each_providers_own_requirements_have_one_key():
    assert specific_state_keys() == {
        "mturk_specific_qualifications": ["mturk_sandbox", "mturk"],
        "prolific_specific_qualifications": ["prolific"],
    }


def test_only_the_mock_crowd_sends_no_real_workers():
    local = [
        name
        for name in PROVIDER_CLASSES
        if not get_provider_class(name).sends_real_workers
    ]

    assert local == ["mock"]
