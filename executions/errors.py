"""Errors of the executions domain that every layer may raise or catch."""

from __future__ import annotations


class ExecutionError(ValueError):
    """The request cannot start or change an execution (disabled flow, bad revision...)."""
