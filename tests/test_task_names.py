"""Celery tasks are found by the name they declare, never by importing a module
path: the outbox publishes `registered_task(name)`, so a task published by name
from another app is no hidden import, and every name used resolves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings

from providers.outbox import registered_task
from tests.conftest import PROJECT_DIR

APPS = ("tasks_app", "qualifications_app", "providers")


def shared_tasks() -> list[tuple[str, str, str | None]]:
    """(module, function, declared name) of every @shared_task of the apps."""
    found = []
    for app in APPS:
        tree = ast.parse((PROJECT_DIR / app / "tasks.py").read_text())
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                target = call.func if call else decorator
                if getattr(target, "id", None) != "shared_task":
                    continue
                names = [
                    k.value.value
                    for k in (call.keywords if call else [])
                    if k.arg == "name" and isinstance(k.value, ast.Constant)
                ]
                found.append((f"{app}.tasks", node.name, names[0] if names else None))
    return found


def published_names() -> set[str]:
    """The task names the code hands to `enqueue_on_commit(task=...)`, written
    as a string or as a module-level constant of the same file."""
    names = set()
    for app in (*APPS, "crowdsite"):
        for path in (PROJECT_DIR / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(Path(path).read_text())
            constants = {
                target.id: node.value.value
                for node in tree.body
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                for target in node.targets
                if isinstance(target, ast.Name)
            }
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                called = getattr(func, "attr", None) or getattr(func, "id", None)
                if called != "enqueue_on_commit":
                    continue
                for keyword in node.keywords:
                    if keyword.arg != "task":
                        continue
                    if isinstance(keyword.value, ast.Constant):
                        names.add(keyword.value.value)
                    elif isinstance(keyword.value, ast.Name):
                        names.add(constants[keyword.value.id])
    return names


def test_every_task_declares_the_name_of_its_module_and_function():
    tasks = shared_tasks()

    assert len(tasks) > 10
    assert [t for t in tasks if t[2] != f"{t[0]}.{t[1]}"] == []


@pytest.mark.parametrize("name", sorted(published_names()))
def test_a_task_published_through_the_outbox_is_registered(name):
    assert registered_task(name).name == name


def test_every_task_the_beat_schedule_runs_is_registered():
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert registered_task(entry["task"]).name == entry["task"]


def test_an_unknown_task_name_is_refused_in_words():
    with pytest.raises(LookupError, match="no Celery task is registered as 'nope'"):
        registered_task("nope")
