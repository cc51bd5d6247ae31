"""``Request``: one HTTP call whose status, headers and body become the task's outputs.

Built on ``urllib.request`` so it needs no dependency. Like Kestra, a response code of 400 or
more fails the task unless ``allowFailed`` is set; a 3xx only reaches the task when redirects
are not followed, and is then returned as it is. Proxies come from ``options`` only, never from
the worker's environment, so a flow behaves the same on every worker.

Every connection, the first and each redirect's, goes through :mod:`plugins._shared.guard`: the
host is resolved once, each address is checked against the SSRF policy (no loopback, private,
link-local or metadata address unless ``TRELLIS_HTTP_ALLOW`` says so), and the socket connects
to the checked address. Redirects may only lead to http and https URLs.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import mimetypes
import ssl
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from email.message import Message
from typing import Any, ClassVar

from kernel.durations import DurationError, parse_duration
from kernel.plugin import Output, Prop, RunContext, RunnableTask, TaskFailed
from plugins._shared.guard import DestinationRefused, HostPolicy, current_policy

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_CONTENT = 10 * 1024 * 1024


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def _seconds(options: dict[str, Any], name: str) -> float | None:
    value = options.get(name)
    if value in (None, ""):
        return None
    try:
        return parse_duration(value).total_seconds()
    except DurationError as exc:
        raise TaskFailed(f"options.{name}: {exc}") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand 3xx responses back instead of following them (``followRedirects: false``)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _GuardedRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) URLs only (urllib would follow ``ftp://``, which bypasses
    the guarded connections), refusing a denied host before any connection is tried."""

    def __init__(self, policy: HostPolicy) -> None:
        self.policy = policy

    def http_error_302(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urllib.parse.urljoin(req.full_url, location)
            if urllib.parse.urlsplit(target).scheme.lower() not in ("http", "https"):
                fp.close()
                raise DestinationRefused(
                    f"HTTP request refused: {req.full_url} redirects to {target!r}; only "
                    "http and https redirects are followed"
                )
            try:
                self.policy.check_url(target)
            except DestinationRefused:
                fp.close()
                raise
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class _GuardedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection whose socket comes from the policy (resolve once, check, connect)."""

    def __init__(self, *args: Any, policy: HostPolicy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = policy.connect  # type: ignore[method-assign]


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    """The same for HTTPS: TLS still verifies the certificate against the host *name*."""

    def __init__(self, *args: Any, policy: HostPolicy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = policy.connect  # type: ignore[method-assign]


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, policy: HostPolicy) -> None:
        super().__init__()
        self.policy = policy

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(functools.partial(_GuardedHTTPConnection, policy=self.policy), req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, policy: HostPolicy, context: ssl.SSLContext | None = None) -> None:
        super().__init__(context=context)
        self.policy = policy

    def https_open(self, req: urllib.request.Request) -> Any:
        connection = functools.partial(_GuardedHTTPSConnection, policy=self.policy)
        return self.do_open(connection, req, context=self._context)  # type: ignore[attr-defined]


class Request(RunnableTask):
    """Call an HTTP(S) endpoint; outputs ``code``, ``headers`` (name -> values), ``body``
    (the response text) and ``uri``."""

    type = "trellis.http.Request"
    aliases = ("io.kestra.plugin.core.http.Request", "io.kestra.plugin.fs.http.Request")
    properties: ClassVar = (
        Prop("uri", "string", required=True, description="An http:// or https:// URL."),
        Prop("method", "string", default="GET", choices=METHODS),
        Prop("body", "any", description="Request body; a map or list is sent as JSON."),
        Prop(
            "formData",
            "map",
            description="Form fields; with contentType multipart/form-data a `kestra://` URI or "
            "a {name, content} map is sent as a file.",
        ),
        Prop("contentType", "string", default="application/json"),
        Prop("headers", "map"),
        Prop(
            "options",
            "map",
            description="connectTimeout, readTimeout (durations), followRedirects, allowFailed, "
            "basicAuthUser, basicAuthPassword, maxContentLength, defaultCharset, proxyAddress, "
            "proxyPort, proxyUsername, proxyPassword.",
        ),
        Prop(
            "sslOptions",
            "map",
            description="insecureTrustAllCertificates: true to skip TLS verification.",
        ),
        Prop("allowFailed", "boolean", default=False, description="A 4xx/5xx is not a failure."),
        Prop("encryptBody", "boolean", default=False, description="Ignored: never encrypted."),
    )
    examples = (
        """id: http_call
namespace: trellis.examples
tasks:
  - id: post
    type: trellis.http.Request
    uri: https://httpbin.org/post
    method: POST
    contentType: application/json
    body: '{"hello": "world"}'
    options:
      readTimeout: PT30S
  - id: show
    type: trellis.core.log.Log
    message: "{{ outputs.post.code }}: {{ outputs.post.body }}"
""",
    )

    outputs: ClassVar = (
        Output("code", "The HTTP status.", "integer"),
        Output("headers", "Response headers, name -> values.", "map"),
        Output("body", "The response body, decoded as text.", "string"),
        Output("uri", "The URL called.", "string"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        request, options, allow_failed = build_request(props, ctx)
        uri = request.full_url
        code, headers, raw = exchange(request, options, props.get("sslOptions") or {})
        limit = int(options.get("maxContentLength") or DEFAULT_MAX_CONTENT)
        if len(raw) > limit:
            raise TaskFailed(f"response body is larger than maxContentLength ({limit} bytes)")
        body = raw.decode(_charset(headers, options), errors="replace")
        ctx.logger.debug(f"Request '{uri}' with the response code '{code}'")
        if code >= 400 and not allow_failed:
            raise TaskFailed(f"HTTP {code} from {uri}: {body[:200]}")
        return {"code": code, "headers": header_map(headers), "body": body, "uri": uri}


def build_request(
    props: dict[str, Any], ctx: RunContext
) -> tuple[urllib.request.Request, dict[str, Any], bool]:
    """The request the properties describe (uri, method, body or formData, headers, basic
    auth), its ``options`` and whether a 4xx/5xx is allowed; shared by Request and Download."""
    uri = str(props.get("uri") or "")
    if urllib.parse.urlsplit(uri).scheme.lower() not in ("http", "https"):
        raise TaskFailed(f"only http and https URIs can be requested, not {uri!r}")
    options = dict(props.get("options") or {})
    method = str(props.get("method") or "GET").upper()
    data, content_type = _body(props, ctx)
    request = urllib.request.Request(uri, data=data, method=method)
    if content_type and data is not None:
        request.add_header("Content-Type", content_type)
    for name, value in (props.get("headers") or {}).items():
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        request.add_header(str(name), text)
    if options.get("basicAuthUser"):
        pair = f"{options['basicAuthUser']}:{options.get('basicAuthPassword') or ''}"
        request.add_header("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    allow_failed = _flag(props.get("allowFailed"), False) or _flag(
        options.get("allowFailed"), False
    )
    return request, options, allow_failed


def _body(props: dict[str, Any], ctx: RunContext) -> tuple[bytes | None, str | None]:
    """The encoded request body and its content type (None, None when there is no body)."""
    content_type = str(props.get("contentType") or "")
    form = props.get("formData")
    if form:
        if content_type.lower().startswith("multipart/form-data"):
            return _multipart(dict(form), ctx)
        pairs = [(str(k), "" if v is None else str(v)) for k, v in dict(form).items()]
        return urllib.parse.urlencode(pairs).encode(), "application/x-www-form-urlencoded"
    body = props.get("body")
    if body is None:
        return None, None
    if isinstance(body, dict | list):
        return json.dumps(body).encode(), content_type or "application/json"
    return str(body).encode("utf-8"), content_type or "application/json"


def _multipart(form: dict[str, Any], ctx: RunContext) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for key, value in form.items():
        filename, content = None, value
        if isinstance(value, dict):
            filename, content = str(value.get("name") or key), value.get("content")
        elif isinstance(value, str) and value.startswith("kestra://"):
            filename = value.rsplit("/", 1)[-1]
        if isinstance(content, str) and content.startswith("kestra://"):
            payload = ctx.open_uri(content).read_bytes()
        else:
            payload = ("" if content is None else str(content)).encode("utf-8")
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"'
        if filename is not None:
            mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            head += f'; filename="{filename}"\r\nContent-Type: {mime}'
        parts.append(head.encode() + b"\r\n\r\n" + payload + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def exchange(
    request: urllib.request.Request,
    options: dict[str, Any],
    ssl_options: dict[str, Any],
    into: Callable[[Any], None] | None = None,
) -> tuple[int, Message, bytes]:
    """Send the request; (status, headers, body bytes) for every response, errors included.
    With ``into``, a successful response's body is handed over as a stream (written to a
    file by Download) and the bytes returned are empty.

    Only the guarded http/https handlers are installed (no ftp, file or data handler), so
    nothing reaches the network except through the policy's checked connections."""
    try:
        policy = current_policy()
    except ValueError as exc:
        raise TaskFailed(f"the HTTP host policy is misconfigured: {exc}") from None
    context = None
    if _flag(ssl_options.get("insecureTrustAllCertificates"), False):
        context = ssl._create_unverified_context()
    follow = _flag(options.get("followRedirects"), True)
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(_proxies(options)),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        _GuardedRedirect(policy) if follow else _NoRedirect(),
        urllib.request.HTTPErrorProcessor(),
        _GuardedHTTPHandler(policy),
        _GuardedHTTPSHandler(policy, context),
    ):
        opener.add_handler(handler)
    # urllib has one socket timeout for connecting and reading: use the larger one asked for.
    asked = [
        t for t in (_seconds(options, "connectTimeout"), _seconds(options, "readTimeout")) if t
    ]
    timeout = max(asked) if asked else DEFAULT_TIMEOUT_SECONDS
    try:
        policy.check_url(request.full_url)
        with opener.open(request, timeout=timeout) as response:
            if into is not None:
                into(response)
                return response.status, response.headers, b""
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, DestinationRefused):
            raise TaskFailed(str(reason)) from None
        raise TaskFailed(f"request to {request.full_url} failed: {reason}") from exc


def _proxies(options: dict[str, Any]) -> dict[str, str]:
    address = options.get("proxyAddress")
    if not address:
        return {}
    user = options.get("proxyUsername")
    auth = ""
    if user:
        password = options.get("proxyPassword") or ""
        auth = f"{urllib.parse.quote(str(user))}:{urllib.parse.quote(str(password))}@"
    port = f":{options['proxyPort']}" if options.get("proxyPort") else ""
    proxy = f"http://{auth}{address}{port}"
    return {"http": proxy, "https": proxy}


def _charset(headers: Message, options: dict[str, Any]) -> str:
    charset = headers.get_content_charset() or str(options.get("defaultCharset") or "utf-8")
    try:
        "".encode(charset)
    except LookupError:
        return "utf-8"
    return charset


def header_map(headers: Message) -> dict[str, list[str]]:
    """Response headers as Kestra shows them: each name (as sent) -> all its values."""
    grouped: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for name, value in headers.items():
        key = spelling.setdefault(name.lower(), name)
        grouped.setdefault(key, []).append(value)
    return grouped


PLUGINS = [Request]
