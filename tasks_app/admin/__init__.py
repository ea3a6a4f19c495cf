"""The operator's view of tasks, runs, units, workers and agents, a module per
model family; importing them registers their admins (Django imports this
package at start-up)."""

from tasks_app.admin import agents, runs, units, workers

__all__ = ["agents", "runs", "units", "workers"]
