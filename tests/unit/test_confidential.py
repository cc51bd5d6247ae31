"""Webhook keys hidden from readers (issue 21): which values are credentials, and how a
YAML source and a JSON document are masked."""

from __future__ import annotations

import pytest

from flows.confidential import MASK, credentials_of_source, hide_in_document, hide_in_text

SOURCE = """id: hooked
namespace: a.b
description: call it with abc
tasks:
  - id: only
    type: io.kestra.plugin.core.log.Log
    message: hi
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: "abc"
  - {id: other, type: io.kestra.core.models.triggers.types.Webhook, key: xyz, signature: {secret: long-signing-secret}}
  - id: later
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
"""


def test_credentials_are_the_declared_properties_of_each_alias() -> None:
    assert credentials_of_source(SOURCE) == ["long-signing-secret", "abc", "xyz"]
    assert credentials_of_source("not: [valid") == []


def test_yaml_text_is_masked_where_a_value_is_a_credential() -> None:
    shown = hide_in_text(SOURCE, credentials_of_source(SOURCE))

    assert 'key: "********"' in shown
    assert "key: ********," in shown
    assert "secret: ********}" in shown
    assert "description: call it with abc" in shown  # a short key is not an ordinary word's
    assert "long-signing-secret" not in shown


@pytest.mark.parametrize("line", ["+    key: abc", "-    key: abc", "     key: abc"])
def test_diff_lines_are_masked_too(line) -> None:
    assert hide_in_text(line, ["abc"]).endswith(f"key: {MASK}")


def test_documents_are_masked_by_property_and_by_value() -> None:
    document = {
        "id": "hooked",
        "description": "the key is long-signing-secret",
        "triggers": [
            {"id": "hook", "type": "io.kestra.plugin.core.trigger.Webhook", "key": "abc"},
            {"id": "later", "type": "io.kestra.plugin.core.trigger.Schedule", "cron": "abc"},
        ],
    }

    shown = hide_in_document(document, ["long-signing-secret", "abc"])

    assert shown["triggers"][0]["key"] == MASK
    assert shown["triggers"][1]["cron"] == MASK  # the same value elsewhere reveals it too
    assert shown["description"] == f"the key is {MASK}"
    assert document["triggers"][0]["key"] == "abc"  # the original is untouched
