"""The HTTP Download task (Kestra's ``http.Download``) against a real local server: the body
is streamed into storage, a failure or an empty body fails the task, and the SSRF guard
applies as for Request."""

from __future__ import annotations

import pytest

from kernel.plugin import TaskFailed
from kernel.registry import registry
from plugins.http.download import Download, file_name
from tests.unit.test_plugins_http import _loopback_allowed, base_url, ctx  # noqa: F401 - fixtures


def test_download_streams_the_body_into_storage(base_url, ctx):  # noqa: F811
    outputs = Download().run({"uri": f"{base_url}/json"}, ctx)

    assert outputs["code"] == 200
    assert outputs["length"] == len(b'{"hello": "world"}')
    assert outputs["uri"] == "kestra:///test/json"
    assert ctx.open_uri(outputs["uri"]).read_bytes() == b'{"hello": "world"}'
    assert outputs["headers"]["Content-Type"] == ["application/json"]


def test_save_as_names_the_file_and_never_a_path(base_url, ctx):  # noqa: F811
    outputs = Download().run({"uri": f"{base_url}/json", "saveAs": "../../x/data.json"}, ctx)

    assert outputs["uri"] == "kestra:///test/data.json"


def test_an_error_status_fails_unless_allowed(base_url, ctx):  # noqa: F811
    with pytest.raises(TaskFailed, match="HTTP 500"):
        Download().run({"uri": f"{base_url}/status/500"}, ctx)

    allowed = Download().run({"uri": f"{base_url}/status/500", "allowFailed": True}, ctx)
    assert allowed["code"] == 500


def test_an_empty_body_fails_unless_told_otherwise(base_url, ctx):  # noqa: F811
    with pytest.raises(TaskFailed, match="is empty"):
        Download().run({"uri": f"{base_url}/redirect-to?%2Fstatus%2F204"}, ctx)

    quiet = Download().run({"uri": f"{base_url}/status/204", "failOnEmptyResponse": False}, ctx)
    assert (quiet["code"], quiet["length"]) == (204, 0)


def test_max_content_length_stops_a_large_download(base_url, ctx):  # noqa: F811
    with pytest.raises(TaskFailed, match="larger than maxContentLength"):
        Download().run({"uri": f"{base_url}/json", "options": {"maxContentLength": 4}}, ctx)


def test_the_ssrf_guard_applies(ctx, settings):  # noqa: F811
    settings.TRELLIS_HTTP_ALLOW = ""

    with pytest.raises(TaskFailed, match="refused"):
        Download().run({"uri": "http://127.0.0.1:9/x"}, ctx)


@pytest.mark.parametrize(
    ("uri", "disposition", "expected"),
    [
        ("http://h/a/report.csv?x=1", None, "report.csv"),
        ("http://h/a/", None, "download"),
        ("http://h/a", 'attachment; filename="../../etc/passwd"', "passwd"),
        ("http://h/a", "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf", "résumé.pdf"),
        ("http://h/.env", None, "download"),
    ],
)
def test_file_names_come_from_the_server_or_the_url_and_are_never_paths(uri, disposition, expected):
    assert file_name(uri, disposition) == expected


def test_kestra_names_resolve():
    assert registry.get("io.kestra.plugin.core.http.Download") is Download
    assert registry.get("io.kestra.plugin.core.flow.LoopUntil").type == "trellis.core.flow.WaitFor"
