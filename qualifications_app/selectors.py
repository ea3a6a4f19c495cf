"""Reads worth a name over qualifications."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qualifications_app.models import Qualification
from tasks_app.run_config import ConfigError


def missing_qualification_names(*, names: Iterable[str]) -> list[str]:
    """Those of `names` that no Qualification has yet, in the order given."""
    names = list(dict.fromkeys(names))
    known = set(
        Qualification.objects.filter(name__in=names).values_list("name", flat=True)
    )
    return [name for name in names if name not in known]


def check_requirements_exist(
    *, requirements: list[dict[str, Any]], also_known: Iterable[str] = ()
) -> None:
    """Refuse requirements naming a qualification nobody created.

    Mephisto lets such a requirement pass silently, which admits everyone to a run
    meant for an allowlist; here it is an error at launch.
    """
    also_known = set(also_known)
    names = [r["qualification_name"] for r in requirements]
    unknown = [
        n for n in missing_qualification_names(names=names) if n not in also_known
    ]
    if unknown:
        index = names.index(unknown[0])
        raise ConfigError(
            f"unknown qualification {unknown[0]!r}"
            + (f" (and {', '.join(map(repr, unknown[1:]))})" if unknown[1:] else "")
            + "; create it first (admin: Qualifications → Add) so the requirement "
            "means what it says",
            key=f"mephisto.task.qualifications[{index}].qualification_name",
        )
