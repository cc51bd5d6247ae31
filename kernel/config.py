"""Deployment settings the kernel and plugins read, handed in by the host program.

The kernel imports no framework, so it cannot read Django's settings; the host installs a
lookup here when it starts (``ExecutionsConfig.ready`` installs one over Django's settings,
read on every call so a test's ``override_settings`` is seen). Without one, the process
environment answers, which is what a plugin's unit test or a script outside Trellis sees.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

Lookup = Callable[[str, Any], Any]

_lookup: Lookup | None = None


def configure(lookup: Lookup | None) -> None:
    """Install (or, with None, remove) the host's settings lookup."""
    global _lookup
    _lookup = lookup


def setting(name: str, default: Any = None) -> Any:
    """The setting ``name``: the host's value, else the environment's, else ``default``."""
    if _lookup is not None:
        return _lookup(name, default)
    return os.environ.get(name, default)
