"""The one list of providers (type name → label and class), and how requesters
name a provider's worker.

Classes are imported on first use; instances are built lazily, per call.
"""

from __future__ import annotations

import re
from importlib import import_module
from typing import NamedTuple

from providers.base import Provider


class ProviderEntry(NamedTuple):
    # What the admin shows.
    label: str
    # The provider class, imported on first use.
    class_path: str


# Every other list of providers (model choices, config schema, --provider
# choices, check_providers) is read from this one.
PROVIDERS: dict[str, ProviderEntry] = {
    "mock": ProviderEntry("Mock", "providers.mock.MockProvider"),
    "mturk_sandbox": ProviderEntry(
        "MTurk sandbox", "providers.mturk.MTurkSandboxProvider"
    ),
    "mturk": ProviderEntry("MTurk", "providers.mturk.MTurkProvider"),
    "prolific": ProviderEntry("Prolific", "providers.prolific.ProlificProvider"),
}
PROVIDER_CLASSES = {name: entry.class_path for name, entry in PROVIDERS.items()}
# The choices of a model's provider_type field.
PROVIDER_CHOICES = [(name, entry.label) for name, entry in PROVIDERS.items()]


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


def specific_state_keys() -> dict[str, list[str]]:
    """{key: the providers that take it} for the keys of a run's shared state
    (build_shared_state) that carry one provider's own requirements."""
    keys: dict[str, list[str]] = {}
    for provider_type in PROVIDER_CLASSES:
        key = get_provider_class(provider_type).specific_state_key
        if key:
            keys.setdefault(key, []).append(provider_type)
    return keys


class WorkerRef(NamedTuple):
    """A worker as requesters name them: `PROVIDER:ID` (e.g. `mturk:A1B2C3`)."""

    provider_type: str
    worker_name: str

    @property
    def label(self) -> str:
        return f"{self.provider_type}:{self.worker_name}"


# Provider worker ids: letters, digits and a few separators.
WORKER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,199}$")


def parse_worker_ref(text: str, *, default_provider: str | None = None) -> WorkerRef:
    """Parse `PROVIDER:ID` into crowdsite's (provider_type, worker_name).

    MTurk sandbox ids get their `_sandbox` suffix, so sandbox and live never mix.
    Raises ValueError saying what is wrong.
    """
    provider, sep, worker_id = text.strip().partition(":")
    if not sep:
        if default_provider is None:
            raise ValueError(
                f"{text.strip()!r} is not PROVIDER:ID (e.g. mturk:A1B2C3D4E5)"
            )
        provider, worker_id = default_provider, text.strip()
    provider = provider.strip()
    worker_id = worker_id.strip()
    if provider not in PROVIDER_CLASSES:
        raise ValueError(
            f"unknown provider {provider!r}; valid: {', '.join(PROVIDER_CLASSES)}"
        )
    if not WORKER_ID_RE.match(worker_id):
        raise ValueError(f"{worker_id!r} is not a valid worker id")
    provider_class = get_provider_class(provider)
    suffix = getattr(provider_class, "worker_name_suffix", "")
    if suffix and worker_id.endswith(suffix):
        # Already crowdsite's name (e.g. from an export): don't suffix twice.
        return WorkerRef(provider, worker_id)
    return WorkerRef(provider, provider_class.worker_name(worker_id))
