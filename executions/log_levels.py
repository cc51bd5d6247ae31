"""Log levels as execution logs store them, least severe first: a filter on a level shows it
and every level after it (the admin's log view, the API, the housekeeping tasks)."""

from __future__ import annotations

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")


def levels_from(name: str | None) -> list[str] | None:
    """``INFO`` -> the levels at or above INFO (``WARNING`` is read as ``WARN``); None = all."""
    wanted = (name or "").strip().upper().replace("WARNING", "WARN")
    if wanted not in LEVELS or wanted == "TRACE":
        return None
    levels = list(LEVELS[LEVELS.index(wanted) :])
    return levels + ["WARNING"] if "WARN" in levels else levels
