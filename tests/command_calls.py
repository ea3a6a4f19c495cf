"""Call a management command as a script does, and read what it printed."""

from __future__ import annotations

import io
import json

from django.core.management import call_command


def run(*args: str) -> str:
    """Call a command and return what it printed."""
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def run_json(*args: str):
    data = json.loads(run(*args, "--json"))
    # The human text leaks into the JSON (see test_json_output_has_no_internal_keys);
    # drop it here so the other tests check what they are about.
    if isinstance(data, dict):
        data.pop("_text", None)
    return data
