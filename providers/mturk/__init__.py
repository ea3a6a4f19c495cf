"""MTurk, live and sandbox, as providers: `client` (the boto3 client, its
endpoint and pacing, botocore's errors), `provider` (HITs, arrivals, the page),
`review` (decisions, bonuses, blocks, notifications, qualifications), `config`
(checks at config load and launch), `checks` (check_providers)."""

from providers.mturk.provider import MTurkProvider, MTurkSandboxProvider

__all__ = ["MTurkProvider", "MTurkSandboxProvider"]
