"""The environment every Kestra test JVM has (expectations.yaml ``global_setup``), rebuilt for
the processes of a compatibility run.

Kestra's ``build.gradle`` exports secrets (``SECRET_*``, base64) and ``KESTRA_*`` variables
to its test runs, and ``application-test.yml`` sets global variables. Corpus flows read them
(``secret('my_secret')``, ``envs.test1``, ``globals.nested.int``), so the runner gives the same
values to the worker processes it starts and to itself (for what renders in-process).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

#: ``"passwordveryveryveyrlong" x5``: the multi-line secret of SecretFunctionTest.
LONG_PASSWORD = "passwordveryveryveyrlong" * 5
#: ``kestra.variables.globals`` of application-test.yml.
GLOBALS: dict[str, Any] = {"string": "string", "int": 1, "bool": True, "nested": {"int": 2}}
#: Short sweeps and leases, so pause delays, timeouts and retries come due within a second.
TIMINGS = {
    "TRELLIS_SWEEP_SECONDS": "1",
    "TRELLIS_LEASE_SECONDS": "10",
    "TRELLIS_HEARTBEAT_SECONDS": "1",
    "TRELLIS_QUIET_SECONDS": "5",
    "TRELLIS_RESEND_SECONDS": "10",
}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _wrapped_b64(text: str, width: int = 76) -> str:
    """Base64 with a newline every ``width`` characters, as ``base64`` writes it."""
    raw = _b64(text)
    return "\n".join(raw[i : i + width] for i in range(0, len(raw), width))


def kestra_test_env(global_setup: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Secrets, ``KESTRA_*`` variables and ``TRELLIS_GLOBALS`` as Kestra's tests have them.

    The corpus header describes the secrets in words, so their values are written here; its
    globals (``global_setup.config``) win over the built-in copy when given.
    """
    config = (global_setup or {}).get("config") or {}
    globals_ = config.get("kestra.variables.globals") or GLOBALS
    return {
        "SECRET_MY_SECRET": _b64(json.dumps({"secretKey": "secretValue"}, separators=(",", ":"))),
        "SECRET_NEW_LINE": _wrapped_b64(LONG_PASSWORD),
        "SECRET_WEBHOOK_KEY": _b64("secretKey"),
        "SECRET_NON_B64_SECRET": "some secret value",
        "SECRET_PASSWORD": _b64("password"),
        "KESTRA_TEST1": "true",
        "KESTRA_TEST2": "Pass by env",
        "TRELLIS_GLOBALS": json.dumps(globals_),
    }


@contextlib.contextmanager
def kestra_environment(env: Mapping[str, str]) -> Iterator[None]:
    """Apply ``env`` to this process (``os.environ`` and the globals setting), then restore."""
    from django.conf import settings

    saved = {key: os.environ.get(key) for key in env}
    saved_globals = settings.TRELLIS_GLOBALS
    os.environ.update(env)
    settings.TRELLIS_GLOBALS = env.get("TRELLIS_GLOBALS", saved_globals)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        settings.TRELLIS_GLOBALS = saved_globals
