"""Celery tasks that change providers' own rows. Thin: each calls a service."""

from __future__ import annotations

from celery import shared_task

from providers import services


@shared_task
def send_outbox() -> int:
    """Publish the tasks whose commit hook found the broker down.

    Safe to run twice: each row is published under a row lock and marked sent.
    """
    return services.send_outbox()
