"""The error of a launch config that can't be used, shared by every app.

A provider checks what it needs of a config (credentials, say) and the launch
checks the rest; both say what is wrong in the same words and with the key path.
"""

from __future__ import annotations


class ConfigError(Exception):
    """A launch config that can't be used. The message names the key path."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)
