"""Periodic work on runs (Celery beat). Thin: each task calls a service."""

from __future__ import annotations

from celery import shared_task

from tasks_app import services


@shared_task
def expire_overdue_agents() -> int:
    """Free the units of timed-out agents. Safe to run twice or concurrently."""
    return services.expire_overdue_agents()
