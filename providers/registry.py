"""Provider type name → provider class. Instances are built lazily, per call."""

from __future__ import annotations

from importlib import import_module

from providers.base import Provider

PROVIDER_CLASSES = {
    "mock": "providers.mock.MockProvider",
    "mturk_sandbox": "providers.mturk.MTurkSandboxProvider",
    "mturk": "providers.mturk.MTurkProvider",
    "prolific": "providers.prolific.ProlificProvider",
}


def get_provider_class(provider_type: str) -> type[Provider]:
    try:
        dotted = PROVIDER_CLASSES[provider_type]
    except KeyError:
        raise ValueError(
            f"unknown provider {provider_type!r}; valid providers are: "
            f"{', '.join(PROVIDER_CLASSES)}"
        ) from None
    module_name, class_name = dotted.rsplit(".", 1)
    return getattr(import_module(module_name), class_name)


def get_provider(provider_type: str) -> Provider:
    return get_provider_class(provider_type)()
