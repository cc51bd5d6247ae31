"""S3 tasks against moto's server mode on 127.0.0.1 (a real S3 API over HTTP)."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import pytest

from kernel.plugin import TaskFailed
from kernel.registry import registry
from tests.file_servers import s3_server
from tests.unit.fake_context import FakeContext, PollContext

KEYS = {"accessKeyId": "AKIATESTKEY", "secretKeyId": "test-secret-key-5521", "region": "us-east-1"}


@pytest.fixture(scope="module")
def endpoint():  # noqa: ANN201
    with s3_server() as url:
        yield url


@pytest.fixture
def conn(endpoint, settings):  # noqa: ANN201 - connection props for a fresh bucket
    settings.TRELLIS_HTTP_ALLOW = "127.0.0.1"
    settings.TRELLIS_HTTP_DENY = ""
    import boto3

    bucket = f"b-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)  # fmt: skip
    return {**KEYS, "endpointOverride": endpoint, "bucket": bucket}


def s3(name: str):  # noqa: ANN201
    return registry.get(f"io.kestra.plugin.aws.s3.{name}")()


def test_upload_list_download_delete(conn, tmp_path) -> None:
    ctx = FakeContext(tmp_path)
    (ctx.storage / "data.csv").write_text("id\n1\n")

    up = s3("Upload").run({**conn, "from": "kestra:///test/data.csv", "key": "in/data.csv",
                           "metadata": {"owner": "t"}}, ctx)  # fmt: skip
    listed = s3("List").run({**conn, "prefix": "in/"}, ctx)
    down = s3("Download").run({**conn, "key": "in/data.csv"}, ctx)
    deleted = s3("Delete").run({**conn, "key": "in/data.csv"}, ctx)
    after = s3("List").run({**conn, "prefix": "in/"}, ctx)

    assert up["key"] == "in/data.csv"
    assert up["eTag"]
    assert [o["key"] for o in listed["objects"]] == ["in/data.csv"]
    assert listed["objects"][0]["uri"] == f"s3://{conn['bucket']}/in/data.csv"
    assert listed["objects"][0]["size"] == 5
    assert ctx.open_uri(down["uri"]).read_text() == "id\n1\n"
    assert down["contentLength"] == 5
    assert down["metadata"] == {"owner": "t"}
    assert deleted["deleteMarker"] is False
    assert after["objects"] == []


def test_upload_many_keeps_names_under_the_prefix_and_list_filters(conn, tmp_path) -> None:
    ctx = FakeContext(tmp_path)
    for name in ("a.csv", "b.json"):
        (ctx.storage / name).write_text(name)

    s3("Upload").run({**conn, "from": ["kestra:///test/a.csv", "kestra:///test/b.json"],
                      "key": "many"}, ctx)  # fmt: skip
    only_csv = s3("List").run({**conn, "regexp": r".*\.csv"}, ctx)

    assert [o["key"] for o in only_csv["objects"]] == ["many/a.csv"]


def test_downloads_then_move_to_another_prefix(conn, tmp_path) -> None:
    ctx = FakeContext(tmp_path)
    (ctx.storage / "x.txt").write_text("X")
    s3("Upload").run({**conn, "from": "kestra:///test/x.txt", "key": "in/x.txt"}, ctx)

    result = s3("Downloads").run(
        {**conn, "prefix": "in/", "action": "MOVE", "moveTo": {"key": "archive"}}, ctx
    )

    assert ctx.open_uri(result["outputFiles"]["in/x.txt"]).read_text() == "X"
    keys = [o["key"] for o in s3("List").run(conn, ctx)["objects"]]
    assert keys == ["archive/x.txt"]


def test_trigger_one_execution_per_batch_then_delete(conn, tmp_path) -> None:
    ctx = FakeContext(tmp_path)
    (ctx.storage / "x.txt").write_text("X")
    s3("Upload").run({**conn, "from": "kestra:///test/x.txt", "key": "in/x.txt"}, ctx)
    trigger = s3("Trigger")
    props = {**conn, "prefix": "in/", "action": "DELETE"}
    poll = PollContext()

    events = trigger.evaluate(props, poll)
    twin = trigger.evaluate(props, poll)
    kept = {}

    def store(path: Path, name: str) -> str:
        kept[name] = path.read_text()
        return f"kestra:///stored/{name}"

    attached = events[0].attach(store)
    events[0].done()

    assert len(events) == 1
    assert twin[0].key == events[0].key
    assert attached["objects"][0]["uri"] == "kestra:///stored/x.txt"
    assert kept == {"x.txt": "X"}
    assert trigger.evaluate(props, poll) == []


def test_trigger_none_remembers_etags(conn, tmp_path) -> None:
    ctx = FakeContext(tmp_path)
    (ctx.storage / "x.txt").write_text("X")
    s3("Upload").run({**conn, "from": "kestra:///test/x.txt", "key": "x.txt"}, ctx)
    trigger, poll = s3("Trigger"), PollContext()
    props = {**conn, "action": "NONE"}

    trigger.evaluate(props, poll)[0].done()
    assert trigger.evaluate(props, poll) == []
    (ctx.storage / "x.txt").write_text("changed")
    s3("Upload").run({**conn, "from": "kestra:///test/x.txt", "key": "x.txt"}, ctx)
    assert len(trigger.evaluate(props, poll)) == 1


def test_endpoint_on_loopback_is_refused_by_default(conn, settings, tmp_path) -> None:
    settings.TRELLIS_HTTP_ALLOW = ""
    with pytest.raises(TaskFailed, match="loopback"):
        s3("List").run(conn, FakeContext(tmp_path))


def test_secret_key_is_not_in_a_failure(conn, tmp_path) -> None:
    with pytest.raises(TaskFailed) as caught:
        s3("Download").run({**conn, "key": "missing.txt"}, FakeContext(tmp_path))
    assert KEYS["secretKeyId"] not in str(caught.value)
    assert "missing.txt" in str(caught.value)


def test_validation(monkeypatch) -> None:
    trigger = registry.get("io.kestra.plugin.aws.s3.Trigger")
    fields = sorted(f for f, _ in trigger.validate({"bucket": "b", "action": "MOVE",
                                                     "regexp": "("}))  # fmt: skip
    assert fields == ["moveTo", "regexp"]
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "boto3" else real(name)
    )
    problems = registry.get("io.kestra.plugin.aws.s3.Upload").validate({})
    assert "pip install 'trellis[s3]'" in problems[0][1]


def test_trigger_credentials_are_confidential() -> None:
    from flows.confidential import credentials

    definition = {
        "triggers": [{"id": "w", "type": "io.kestra.plugin.aws.s3.Trigger", "bucket": "b",
                      "accessKeyId": "AKIA", "secretKeyId": "very-secret-key"}],
    }  # fmt: skip
    assert credentials(definition) == ["very-secret-key"]


def test_upload_options_and_an_assumed_role(conn, endpoint, tmp_path) -> None:
    import boto3

    ctx = FakeContext(tmp_path)
    (ctx.storage / "t.txt").write_text("T")
    role = {"stsRoleArn": "arn:aws:iam::123456789012:role/uploader",
            "stsEndpointOverride": endpoint, "stsRoleSessionDuration": "PT15M"}  # fmt: skip

    s3("Upload").run({**conn, **role, "from": "kestra:///test/t.txt", "key": "t.txt",
                      "tagging": {"team": "data"}, "cacheControl": "no-cache",
                      "contentType": "text/plain"}, ctx)  # fmt: skip

    raw = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="x",
                       aws_secret_access_key="x", region_name="us-east-1")  # fmt: skip
    head = raw.head_object(Bucket=conn["bucket"], Key="t.txt")
    tags = raw.get_object_tagging(Bucket=conn["bucket"], Key="t.txt")["TagSet"]
    assert head["CacheControl"] == "no-cache"
    assert head["ContentType"] == "text/plain"
    assert tags == [{"Key": "team", "Value": "data"}]
