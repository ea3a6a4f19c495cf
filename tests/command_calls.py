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


def run_from_terminal(monkeypatch, capsys, app: str, name: str, *args: str):
    """Run a command as `manage.py name args...` would: (exit status, out, err)."""
    from django.core.management import load_command_class
    from django.db import connections

    # run_from_argv closes the connections when done; the test's transaction
    # lives on one of them.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    command = load_command_class(app, name)
    try:
        command.run_from_argv(["manage.py", name, *args])
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return status, captured.out, captured.err
