"""Which local folders plugins may touch: ``TRELLIS_FS_ALLOWED_PATHS`` (``os.pathsep``-
separated). The local file tasks, the file trigger and git's ``file://`` repositories read the
same setting; what an empty list means is each one's own (the trigger: anywhere; the tasks
and git: nowhere)."""

from __future__ import annotations

import os
from pathlib import Path

from kernel.plugin import TaskFailed

ALLOWED_ENV = "TRELLIS_FS_ALLOWED_PATHS"


def allowed_roots() -> list[Path]:
    return [
        Path(r).resolve() for r in os.environ.get(ALLOWED_ENV, "").split(os.pathsep) if r.strip()
    ]


def checked(path: str) -> Path:
    """``path`` resolved, if it lies in an allowed folder; else a clear refusal."""
    roots = allowed_roots()
    if not roots:
        raise TaskFailed(
            f"local file tasks are disabled on this worker: {ALLOWED_ENV} lists no folder "
            "(set it to the folders flows may read and write)"
        )
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        raise TaskFailed(f"{path!r} must be an absolute path")
    resolved = candidate.resolve()
    if not any(resolved == root or root in resolved.parents for root in roots):
        raise TaskFailed(f"{path!r} is outside the folders {ALLOWED_ENV} allows")
    return resolved
