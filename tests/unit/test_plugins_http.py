"""The HTTP Request task against a real local server (http.server in a thread)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from plugins.base import TaskFailed
from plugins.http.request import Request
from plugins.registry import registry
from tests.unit.fake_context import FakeContext


class _Handler(BaseHTTPRequestHandler):
    """/json answers JSON; /echo echoes method, headers and body; /status/<n> answers n;
    /redirect sends to /json."""

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _reply(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Multi", "a")
        self.send_header("X-Multi", "b")
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length).decode() if length else ""
        if self.path == "/json":
            self._reply(200, b'{"hello": "world"}')
        elif self.path == "/echo":
            echo = {
                "method": self.command,
                "contentType": self.headers.get("Content-Type"),
                "auth": self.headers.get("Authorization"),
                "custom": self.headers.get("X-Custom"),
                "body": data,
            }
            self._reply(200, json.dumps(echo).encode())
        elif self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[1])
            self._reply(code, ("x" * 300).encode(), "text/plain")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/json")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._reply(404, b"not found", "text/plain")

    do_GET = do_POST = do_PUT = do_DELETE = _handle


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def ctx(tmp_path: Path) -> FakeContext:
    return FakeContext(tmp_path)


def test_get_json(base_url, ctx):
    outputs = Request().run({"uri": f"{base_url}/json"}, ctx)

    assert outputs["code"] == 200
    assert outputs["uri"] == f"{base_url}/json"
    assert json.loads(outputs["body"]) == {"hello": "world"}
    assert outputs["headers"]["Content-Type"] == ["application/json"]
    assert outputs["headers"]["X-Multi"] == ["a", "b"]


def test_post_json_body_with_headers(base_url, ctx):
    outputs = Request().run(
        {
            "uri": f"{base_url}/echo",
            "method": "POST",
            "contentType": "application/json",
            "body": '{"a": 1}',
            "headers": {"X-Custom": "yes"},
        },
        ctx,
    )

    echo = json.loads(outputs["body"])
    assert echo == {
        "method": "POST",
        "contentType": "application/json",
        "auth": None,
        "custom": "yes",
        "body": '{"a": 1}',
    }


def test_a_map_body_is_sent_as_json(base_url, ctx):
    outputs = Request().run({"uri": f"{base_url}/echo", "method": "PUT", "body": {"b": [1]}}, ctx)

    assert json.loads(json.loads(outputs["body"])["body"]) == {"b": [1]}


def test_form_data_is_url_encoded(base_url, ctx):
    outputs = Request().run(
        {"uri": f"{base_url}/echo", "method": "POST", "formData": {"user": "J D", "n": 1}}, ctx
    )

    echo = json.loads(outputs["body"])
    assert echo["contentType"] == "application/x-www-form-urlencoded"
    assert echo["body"] == "user=J+D&n=1"


def test_multipart_form_data_sends_a_stored_file(base_url, ctx):
    (ctx.storage / "report.txt").write_text("file body")

    outputs = Request().run(
        {
            "uri": f"{base_url}/echo",
            "method": "POST",
            "contentType": "multipart/form-data",
            "formData": {"user": "jd", "doc": "kestra:///test/report.txt"},
        },
        ctx,
    )

    echo = json.loads(outputs["body"])
    assert echo["contentType"].startswith("multipart/form-data; boundary=")
    assert 'name="doc"; filename="report.txt"' in echo["body"]
    assert "file body" in echo["body"]


def test_basic_auth_from_options(base_url, ctx):
    outputs = Request().run(
        {"uri": f"{base_url}/echo", "options": {"basicAuthUser": "u", "basicAuthPassword": "p"}},
        ctx,
    )

    assert json.loads(outputs["body"])["auth"] == "Basic dTpw"


def test_error_status_fails_with_code_and_start_of_body(base_url, ctx):
    with pytest.raises(TaskFailed) as caught:
        Request().run({"uri": f"{base_url}/status/500"}, ctx)

    assert str(caught.value) == f"HTTP 500 from {base_url}/status/500: " + "x" * 200


def test_allow_failed_returns_the_error_response(base_url, ctx):
    outputs = Request().run(
        {"uri": f"{base_url}/status/404", "options": {"allowFailed": True}}, ctx
    )

    assert outputs["code"] == 404
    assert outputs["body"] == "x" * 300


def test_allow_failed_top_level(base_url, ctx):
    outputs = Request().run({"uri": f"{base_url}/status/503", "allowFailed": True}, ctx)

    assert outputs["code"] == 503


def test_redirects_are_followed_unless_disabled(base_url, ctx):
    followed = Request().run({"uri": f"{base_url}/redirect"}, ctx)
    kept = Request().run(
        {"uri": f"{base_url}/redirect", "options": {"followRedirects": False}}, ctx
    )

    assert followed["code"] == 200
    assert kept["code"] == 302
    assert kept["headers"]["Location"] == ["/json"]


@pytest.mark.parametrize("uri", ["file:///etc/passwd", "ftp://example.com/x", "no-scheme"])
def test_other_schemes_are_refused(uri, ctx):
    with pytest.raises(TaskFailed, match="only http and https"):
        Request().run({"uri": uri}, ctx)


def test_connection_refused_is_a_task_failure(ctx):
    with pytest.raises(TaskFailed, match="failed"):
        Request().run({"uri": "http://127.0.0.1:9/", "options": {"connectTimeout": "PT2S"}}, ctx)


@pytest.mark.parametrize(
    "name", ["io.kestra.plugin.core.http.Request", "io.kestra.plugin.fs.http.Request"]
)
def test_kestra_names_resolve(name):
    assert registry.get(name) is Request
