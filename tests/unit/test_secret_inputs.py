"""SECRET inputs are stored sealed and opened only to render (issue 8)."""

from __future__ import annotations

import base64

import pytest

from kernel.engine.context import expression_context
from kernel.engine.snapshot import ExecutionSnapshot
from kernel.inputs import coerce_inputs, open_secret_inputs
from kernel.secrets import (
    SecretUnreadable,
    encryption_key,
    open_secret,
    seal_secret,
)
from kernel.spec.model import InputSpec
from kernel.spec.parse import parse_flow
from kernel.states import State

KEY = encryption_key("I6EGNzRESu3X3pKZidrqCGOHQFUFC0yK", "unused")


def test_a_sealed_value_opens_to_the_clear_text_and_never_shows_it() -> None:
    sealed = seal_secret("hunter2", KEY)

    assert "hunter2" not in sealed
    assert base64.b64decode(sealed)  # Kestra's layout: base64 of nonce + ciphertext + tag
    assert open_secret(sealed, KEY) == "hunter2"
    assert seal_secret("hunter2", KEY) != sealed  # a fresh nonce every time


def test_a_32_character_key_is_used_as_is_so_kestras_key_works() -> None:
    assert KEY == b"I6EGNzRESu3X3pKZidrqCGOHQFUFC0yK"
    assert len(encryption_key("short", "x")) == 32
    assert encryption_key("", "django-secret") != encryption_key("", "other-secret")


def test_values_that_were_never_sealed_come_back_unchanged() -> None:
    assert open_secret("secret", KEY) == "secret"
    assert open_secret(None, KEY) is None


def test_a_value_sealed_with_another_key_is_an_error_not_ciphertext() -> None:
    sealed = seal_secret("hunter2", encryption_key("another key", "x"))

    with pytest.raises(SecretUnreadable):
        open_secret(sealed, KEY)


def test_coerce_inputs_seals_secret_inputs_and_nothing_else() -> None:
    specs = [InputSpec("password", "SECRET", {}), InputSpec("name", "STRING", {})]

    typed = coerce_inputs(specs, {"password": "hunter2", "name": "ada"})

    assert typed["name"] == "ada"
    assert typed["password"] != "hunter2"
    assert open_secret(typed["password"]) == "hunter2"


def test_nested_secret_inputs_are_opened_in_place() -> None:
    specs = [InputSpec("db.password", "SECRET", {}), InputSpec("db.user", "STRING", {})]
    sealed = {"db": {"password": "x-sealed", "user": "ada"}}

    opened, clear = open_secret_inputs(sealed, specs, lambda v: v.replace("-sealed", ""))

    assert opened == {"db": {"password": "x", "user": "ada"}}
    assert sealed == {"db": {"password": "x-sealed", "user": "ada"}}  # the stored copy
    assert clear == ["x"]


FLOW = """
id: s
namespace: a
inputs:
  - id: password
    type: SECRET
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.password }}"
"""


def test_the_expression_context_opens_secrets_and_reports_them_for_masking() -> None:
    spec = parse_flow(FLOW)
    snap = ExecutionSnapshot(
        id="e1", namespace="a", flow_id="s", flow_revision=1, state=State.RUNNING,
        inputs={"password": seal_secret("pw")},
        labels={}, task_runs=(),
    )  # fmt: skip
    seen: list[str] = []

    class IO:
        def on_secret(self, value: str) -> None:
            seen.append(value)

    context = expression_context(spec, snap, extra={"_trellis": IO()})

    assert context["inputs"] == {"password": "pw"}
    assert seen == ["pw"]
