"""The environment Kestra's test JVM always has (expectations.yaml ``global_setup``), given to
the worker processes the compatibility runner starts."""

from __future__ import annotations

import base64
import json


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _wrapped_b64(text: str, width: int = 76) -> str:
    raw = _b64(text)
    return "\n".join(raw[i : i + width] for i in range(0, len(raw), width))


GLOBALS = {"string": "string", "int": 1, "bool": True, "nested": {"int": 2}}


def kestra_test_env() -> dict[str, str]:
    return {
        "SECRET_MY_SECRET": _b64(json.dumps({"secretKey": "secretValue"})),
        "SECRET_NEW_LINE": _wrapped_b64("passwordveryveryveyrlong" * 5),
        "SECRET_WEBHOOK_KEY": _b64("secretKey"),
        "SECRET_NON_B64_SECRET": "some secret value",
        "SECRET_PASSWORD": "cGFzc3dvcmQ=",
        "KESTRA_TEST1": "true",
        "KESTRA_TEST2": "Pass by env",
        "TRELLIS_GLOBALS": json.dumps(GLOBALS),
    }
