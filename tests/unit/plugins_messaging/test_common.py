"""Serialisation, Ion files, limits and validation shared by the messaging families."""

from __future__ import annotations

import base64

import pytest

from kernel.plugin import TaskFailed
from kernel.registry import registry
from kernel.spec.model import SpecError
from kernel.spec.parse import parse_flow
from plugins.messaging._common import (
    Budget,
    IonFile,
    decode,
    encode,
    gather,
    limit_problems,
    missing_library,
    read_ion,
    source_values,
)
from plugins.messaging.amqp.client import connect
from plugins.messaging.nats.client import Session
from tests.unit.fake_context import FakeContext


def test_decode_follows_serde_type() -> None:
    assert decode(b'{"a": 1}', "JSON") == {"a": 1}
    assert decode(b'{"a": 1}', "STRING") == '{"a": 1}'
    assert decode(b"\x00\x01", "BYTES") == base64.b64encode(b"\x00\x01").decode()
    assert decode(None, "JSON") is None


def test_decode_json_that_is_not_json_fails_the_task() -> None:
    with pytest.raises(TaskFailed, match="not JSON"):
        decode(b"hello", "JSON")


def test_encode_sends_text_as_is_and_structures_as_json() -> None:
    assert encode("hello", "STRING") == b"hello"
    assert encode({"a": [1, 2]}, "STRING") == b'{"a": [1, 2]}'
    assert encode("hello", "JSON") == b'"hello"'
    assert encode(base64.b64encode(b"\x01").decode(), "BYTES") == b"\x01"


def test_ion_file_is_one_text_value_per_line_without_version_marker(tmp_path) -> None:
    ion = IonFile(tmp_path)
    ion.write({"data": "héllo", "headers": {"x": ["1"]}, "n": 3})
    ion.write("plain")
    path = ion.close()
    lines = path.read_text().splitlines()
    assert ion.count == 2
    assert lines[0] == '{data:"héllo",headers:{x:["1"]},n:3}'
    assert lines[1] == '"plain"'
    assert "$ion_1_0" not in path.read_text()
    assert list(read_ion(path)) == [{"data": "héllo", "headers": {"x": ["1"]}, "n": 3}, "plain"]


def test_source_values_reads_a_list_a_value_or_an_ion_uri(tmp_path) -> None:
    ctx = FakeContext(tmp_path)
    ion = IonFile(ctx.working_dir)
    ion.write({"id": 1})
    ion.write({"id": 2})
    uri = ctx.put_file(ion.close(), "in.ion")
    assert source_values(uri, ctx) == [{"id": 1}, {"id": 2}]
    assert source_values(["a", "b"], ctx) == ["a", "b"]
    assert source_values({"k": "v"}, ctx) == [{"k": "v"}]
    assert source_values('["a", "b"]', ctx) == ["a", "b"]


def test_budget_counts_records_and_time() -> None:
    budget = Budget.of({"maxRecords": 2})
    assert not budget.full(1)
    assert budget.full(2)
    assert budget.left(1) == 1
    assert not budget.expired()
    assert Budget.of({"maxDuration": "PT0S"}).expired()


def test_gather_asks_for_what_is_left_and_ends_with_the_source() -> None:
    asked: list[int | None] = []
    replies = iter([["a", "b"], [], ["c"]])

    def receive(left: int | None) -> list[str] | None:
        asked.append(left)
        return next(replies, None)

    assert gather(Budget.of({"maxRecords": 3}), lambda: False, receive) == ["a", "b", "c"]
    assert asked == [3, 1, 1]
    assert gather(Budget.of({"maxRecords": 9}), lambda: False, lambda left: None) == []


def test_a_consumer_needs_a_limit() -> None:
    assert limit_problems({}) == [
        ("maxRecords", "set `maxRecords` or `maxDuration`: a consumer must stop")
    ]
    assert limit_problems({"maxDuration": "PT1S"}) == []


def test_a_missing_library_names_the_extra() -> None:
    assert missing_library("no_such_module_xyz", "amqp") == [
        ("type", "the `no_such_module_xyz` library is not installed: pip install 'trellis[amqp]'")
    ]
    assert missing_library("json", "amqp") == []


def test_kestra_names_deploy_and_a_consumer_without_limit_is_refused() -> None:
    good = """id: f
namespace: t
tasks:
  - id: consume
    type: io.kestra.plugin.amqp.Consume
    host: localhost
    queue: q
    maxRecords: 10
"""
    spec = parse_flow(good)
    assert spec.tasks[0].type == "trellis.amqp.Consume"
    with pytest.raises(SpecError, match="maxRecords"):
        parse_flow(good.replace("    maxRecords: 10\n", ""))


@pytest.mark.parametrize(
    ("kestra", "canonical"),
    [
        ("io.kestra.plugin.amqp.RealtimeTrigger", "trellis.amqp.RealtimeTrigger"),
        ("io.kestra.plugin.mqtt.RealtimeTrigger", "trellis.mqtt.RealtimeTrigger"),
        ("io.kestra.plugin.nats.RealtimeTrigger", "trellis.nats.RealtimeTrigger"),
        ("io.kestra.plugin.redis.list.RealtimeTrigger", "trellis.redis.list.RealtimeTrigger"),
        ("io.kestra.plugin.redis.list.Trigger", "trellis.redis.list.Trigger"),
        ("io.kestra.plugin.nats.core.Consume", "trellis.nats.Consume"),
        ("io.kestra.plugin.redis.pubsub.Publish", "trellis.redis.pubsub.Publish"),
    ],
)
def test_kestra_type_names_resolve(kestra: str, canonical: str) -> None:
    assert registry.get(kestra).type == canonical


def test_a_flow_using_a_family_whose_library_is_missing_fails_validation(monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        "plugins.messaging._common.importlib.util.find_spec",
        lambda name, *a: None if name == "pika" else real(name, *a),
    )
    with pytest.raises(SpecError, match=r"pip install 'trellis\[amqp\]'"):
        parse_flow(
            """id: f
namespace: t
tasks:
  - id: publish
    type: io.kestra.plugin.amqp.Publish
    host: localhost
    from: hello
"""
        )


def test_importing_the_families_loads_no_client_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import plugins.messaging.amqp, plugins.messaging.mqtt, "
        "plugins.messaging.nats, plugins.messaging.redis; "
        "print(sorted(m for m in ('pika', 'paho', 'nats', 'amazon') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_connection_errors_never_show_credentials(tmp_path) -> None:
    with pytest.raises(TaskFailed) as caught:
        Session({"url": "nats://s3cr3t-token@127.0.0.1:1"})
    assert "s3cr3t" not in str(caught.value)
    with pytest.raises(TaskFailed) as caught:
        connect({"host": "127.0.0.1", "port": "1", "password": "s3cr3t-pw"})
    assert "s3cr3t" not in str(caught.value)


def test_a_trigger_gets_text_for_a_body_that_is_not_json() -> None:
    assert decode(b"not json", "JSON", strict=False) == "not json"
