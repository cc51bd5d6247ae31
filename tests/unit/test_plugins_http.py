"""The HTTP Request task against a real local server (http.server in a thread)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kernel.plugin import TaskFailed
from kernel.registry import registry
from plugins.http.request import Request
from tests.unit.fake_context import FakeContext


class _Handler(BaseHTTPRequestHandler):
    """/json answers JSON; /echo echoes method, headers and body; /status/<n> answers n;
    /redirect sends to /json, /redirect-to?<url> to the (URL-encoded) URL."""

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

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

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
            self._redirect("/json")
        elif self.path.startswith("/redirect-to?"):
            self._redirect(urllib.parse.unquote(self.path.split("?", 1)[1]))
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


@pytest.fixture(autouse=True)
def _loopback_allowed(settings) -> None:
    """These tests talk to a server on 127.0.0.1, which the SSRF guard refuses by default."""
    settings.TRELLIS_HTTP_ALLOW = "127.0.0.1"
    settings.TRELLIS_HTTP_DENY = ""
    settings.TRELLIS_HTTP_ALLOW_ONLY = False


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


# ----------------------------------------------------------------- SSRF guard (issue 9)


@pytest.fixture
def default_policy(settings) -> None:
    """The production default: nothing allowed beyond public addresses."""
    settings.TRELLIS_HTTP_ALLOW = ""


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("http://127.0.0.1:{port}/json", "127.0.0.1 is a loopback address"),
        ("http://localhost:{port}/json", "localhost resolves to"),
        ("http://[::1]:{port}/json", "::1 is a loopback address"),
        ("http://2130706433:{port}/json", "127.0.0.1, which is a loopback address"),
        ("http://0x7f.1:{port}/json", "127.0.0.1, which is a loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/json", "is a loopback address"),
        ("http://0.0.0.0:{port}/json", "0.0.0.0 is an unspecified address"),
        ("http://10.1.2.3:{port}/", "10.1.2.3 is a private address"),
        ("http://192.168.0.1/", "192.168.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata service"),
        ("http://169.254.1.1/", "169.254.1.1 is a link-local address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
    ],
)
def test_non_public_destinations_are_refused_by_default(default_policy, base_url, ctx, uri, why):
    port = base_url.rsplit(":", 1)[1]

    with pytest.raises(TaskFailed) as caught:
        Request().run({"uri": uri.format(port=port)}, ctx)

    assert str(caught.value).startswith("HTTP request refused: ")
    assert why in str(caught.value)
    assert "TRELLIS_HTTP_ALLOW" in str(caught.value)


def test_a_redirect_to_a_refused_address_is_refused(base_url, ctx):
    port = base_url.rsplit(":", 1)[1]
    target = urllib.parse.quote(f"http://127.0.0.2:{port}/json", safe="")

    with pytest.raises(TaskFailed, match=r"127\.0\.0\.2 is a loopback address"):
        Request().run({"uri": f"{base_url}/redirect-to?{target}"}, ctx)


def test_a_redirect_to_the_metadata_service_is_refused(base_url, ctx):
    target = urllib.parse.quote("http://169.254.169.254/latest/meta-data/", safe="")

    with pytest.raises(TaskFailed, match="cloud metadata address"):
        Request().run({"uri": f"{base_url}/redirect-to?{target}"}, ctx)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x", "data:,hello"])
def test_a_redirect_to_another_scheme_is_refused(base_url, ctx, target):
    quoted = urllib.parse.quote(target, safe="")

    with pytest.raises(TaskFailed, match="refused"):
        Request().run({"uri": f"{base_url}/redirect-to?{quoted}"}, ctx)


def test_an_allowed_redirect_is_followed(base_url, ctx):
    target = urllib.parse.quote(f"{base_url}/json", safe="")

    outputs = Request().run({"uri": f"{base_url}/redirect-to?{target}"}, ctx)

    assert outputs["code"] == 200


def test_deny_wins_over_allow(settings, base_url, ctx):
    settings.TRELLIS_HTTP_DENY = "127.0.0.0/8"

    with pytest.raises(TaskFailed, match="denied by TRELLIS_HTTP_DENY"):
        Request().run({"uri": f"{base_url}/json"}, ctx)


def test_allow_only_refuses_public_hosts_not_listed(settings, ctx):
    settings.TRELLIS_HTTP_ALLOW = "api.example.com"
    settings.TRELLIS_HTTP_ALLOW_ONLY = True

    with pytest.raises(TaskFailed, match="example.org is not in TRELLIS_HTTP_ALLOW"):
        Request().run({"uri": "https://example.org/"}, ctx)


def test_a_proxy_is_checked_like_any_destination(default_policy, ctx):
    with pytest.raises(TaskFailed, match="10.0.0.8 is a private address"):
        Request().run(
            {"uri": "http://example.org/", "options": {"proxyAddress": "10.0.0.8",
                                                       "proxyPort": 3128}},
            ctx,
        )  # fmt: skip


def test_a_misconfigured_policy_is_a_clear_task_failure(settings, ctx):
    settings.TRELLIS_HTTP_ALLOW = "10.0.0.0/8, not a host"

    with pytest.raises(TaskFailed, match="TRELLIS_HTTP_ALLOW: not an address"):
        Request().run({"uri": "http://example.org/"}, ctx)
