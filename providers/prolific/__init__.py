"""Prolific as a provider: `client` (its API and the account's named things),
`provider` (studies, arrivals, the page), `review` (decisions, bonuses, groups),
`config` (settings checked at config load), `checks` (check_providers)."""

from providers.prolific.provider import ProlificProvider

__all__ = ["ProlificProvider"]
