"""``io.kestra.plugin.core.http.Trigger``: call an HTTP endpoint every ``interval`` and start an
execution when ``responseCondition`` holds for the response.

The condition is an expression over ``response.statusCode``, ``response.body`` (text) and
``response.headers`` (name -> list of values); the default starts an execution for every
answer below 400. An error status is a response like any other (the condition judges it);
a connection failure, a timeout or a destination the HTTP task's host policy refuses
(``TRELLIS_HTTP_ALLOW``/``DENY``: private and metadata addresses by default) is a failed
poll, shown on the trigger's state. The execution sees ``trigger.uri``, ``trigger.code``,
``trigger.headers`` and ``trigger.body``.
Each poll starts at most one execution: its key is the poll's id, so a poll delivered twice
starts one. Combine with ``stopAfter: [SUCCESS]`` to stop polling once the flow has run.
"""

from __future__ import annotations

import functools
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from typing import Any, ClassVar

from kernel.durations import parse_duration
from kernel.expressions.render import is_truthy
from kernel.plugin import Output, PollContext, PollEvent, PollingTrigger, Prop
from plugins._shared.guard import DestinationRefused, HostPolicy, current_policy

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFAULT_CONDITION = "{{ response.statusCode < 400 }}"
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_CONTENT = 10 * 1024 * 1024


class HttpTrigger(PollingTrigger):
    """Poll an HTTP(S) endpoint; start the flow when ``responseCondition`` is true."""

    type = "trellis.core.http.Trigger"
    aliases = ("io.kestra.plugin.core.http.Trigger", "io.kestra.plugin.fs.http.Trigger")
    recorded_type = "io.kestra.plugin.core.http.Trigger"
    default_interval = "PT60S"
    properties: ClassVar = (
        Prop("uri", "string", required=True, description="An http:// or https:// URL."),
        Prop("method", "string", default="GET", choices=METHODS),
        Prop("body", "any", description="Request body; a map or list is sent as JSON."),
        Prop("contentType", "string", default="application/json"),
        Prop("headers", "map"),
        Prop(
            "options",
            "map",
            description="connectTimeout / readTimeout (durations, default 10 s), "
            "maxContentLength (bytes, default 10 MiB).",
        ),
        Prop(
            "responseCondition",
            "string",
            default=DEFAULT_CONDITION,
            dynamic=False,
            description="Expression over `response` (statusCode, body, headers).",
        ),
        Prop("interval", "duration", default="PT60S", dynamic=False),
        *PollingTrigger.shared_properties,
    )
    examples = (
        """id: when-ready
namespace: trellis.examples
tasks:
  - id: hello
    type: trellis.core.log.Log
    message: "{{ trigger.code }}: {{ trigger.body }}"
triggers:
  - id: ready
    type: io.kestra.plugin.core.http.Trigger
    uri: https://example.com/status
    responseCondition: "{{ response.statusCode == 200 and 'ready' in response.body }}"
    interval: PT30S
    stopAfter: [SUCCESS]
""",
    )

    outputs: ClassVar = (
        Output("uri", "The URL called.", "string"),
        Output("code", "The HTTP status.", "integer"),
        Output("headers", "Response headers, name -> values.", "map"),
        Output("body", "The response body.", "any"),
    )

    @classmethod
    def validate(cls, props: dict[str, Any]) -> list[tuple[str, str]]:
        uri = props.get("uri")
        if isinstance(uri, str) and "{{" not in uri and "{%" not in uri:
            scheme = urllib.parse.urlsplit(uri).scheme.lower()
            if scheme not in ("http", "https"):
                return [("uri", f"`uri` must be an http:// or https:// URL, got {uri!r}")]
        return []

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        uri = str(props.get("uri") or "")
        if urllib.parse.urlsplit(uri).scheme.lower() not in ("http", "https"):
            raise ValueError(f"`uri` must be an http:// or https:// URL, got {uri!r}")
        code, headers, body = _exchange(uri, props)
        response = {"statusCode": code, "body": body, "headers": headers}
        condition = props.get("responseCondition") or DEFAULT_CONDITION
        if not is_truthy(ctx.render(condition, {"response": response})):
            ctx.logger.debug(f"{uri} answered {code}: the response condition is false")
            return []
        variables = {"uri": uri, "code": code, "headers": headers, "body": body}
        return [PollEvent(key=f"poll:{ctx.poll_id}", variables=variables)]


def _seconds(options: dict[str, Any], name: str) -> float:
    value = options.get(name)
    return parse_duration(value).total_seconds() if value else DEFAULT_TIMEOUT_SECONDS


def _request_body(props: dict[str, Any]) -> tuple[bytes | None, str | None]:
    body = props.get("body")
    if body is None:
        return None, None
    content_type = str(props.get("contentType") or "application/json")
    if isinstance(body, dict | list):
        return json.dumps(body).encode(), content_type
    return str(body).encode(), content_type


def _header_map(headers: Message) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in headers.items():
        out.setdefault(name.lower(), []).append(value)
    return out


class _Connection(http.client.HTTPConnection):
    """A connection whose socket the host policy opens (resolve once, check, connect)."""

    def __init__(self, *args: Any, policy: HostPolicy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = policy.connect  # type: ignore[method-assign]


class _TLSConnection(http.client.HTTPSConnection):
    """The same for HTTPS; the certificate is still checked against the host name."""

    def __init__(self, *args: Any, policy: HostPolicy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = policy.connect  # type: ignore[method-assign]


class _Handler(urllib.request.HTTPHandler):
    def __init__(self, policy: HostPolicy) -> None:
        super().__init__()
        self.policy = policy

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(functools.partial(_Connection, policy=self.policy), req)


class _TLSHandler(urllib.request.HTTPSHandler):
    def __init__(self, policy: HostPolicy) -> None:
        super().__init__()
        self.policy = policy

    def https_open(self, req: urllib.request.Request) -> Any:
        connection = functools.partial(_TLSConnection, policy=self.policy)
        return self.do_open(connection, req, context=self._context)


class _Redirect(urllib.request.HTTPRedirectHandler):
    """Follow http(s) redirects only, each target checked by the host policy first."""

    def __init__(self, policy: HostPolicy) -> None:
        self.policy = policy

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise DestinationRefused(f"{req.full_url} redirects to {newurl!r}: not http(s)")
        self.policy.check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _exchange(uri: str, props: dict[str, Any]) -> tuple[int, dict[str, list[str]], str]:
    """(status, headers, body text) of one call; error statuses are returned, not raised.

    The connection goes through the HTTP task's host policy (``plugins._shared.guard``): the
    trigger reaches the same destinations as the HTTP task, public addresses by default,
    never a cloud metadata service. No proxy from the environment is used.
    """
    options = dict(props.get("options") or {})
    data, content_type = _request_body(props)
    request = urllib.request.Request(uri, data=data, method=str(props.get("method") or "GET"))
    for name, value in dict(props.get("headers") or {}).items():
        request.add_header(str(name), "" if value is None else str(value))
    if content_type and not request.has_header("Content-type"):
        request.add_header("Content-Type", content_type)
    timeout = max(_seconds(options, "connectTimeout"), _seconds(options, "readTimeout"))
    limit = int(options.get("maxContentLength") or DEFAULT_MAX_CONTENT)
    policy = current_policy()
    policy.check_url(uri)
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler({}),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        _Redirect(policy),
        urllib.request.HTTPErrorProcessor(),
        _Handler(policy),
        _TLSHandler(policy),
    ):
        opener.add_handler(handler)
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as error:  # 4xx/5xx: a response for the condition to judge
        response = error
    except urllib.error.URLError as error:  # refused by the policy, unreachable, timed out
        reason = error.reason
        raise reason if isinstance(reason, OSError) else OSError(str(reason)) from None
    with response:
        raw = response.read(limit + 1)
        if len(raw) > limit:
            raise ValueError(f"{uri} answered more than maxContentLength ({limit} bytes)")
        charset = response.headers.get_content_charset() or "utf-8"
        return response.status, _header_map(response.headers), raw.decode(charset, "replace")


PLUGINS = [HttpTrigger]
