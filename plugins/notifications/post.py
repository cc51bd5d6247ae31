"""Sending a notification over HTTP: one guarded POST, and addresses that never reach a log.

A webhook URL is a credential (whoever holds a Slack incoming-webhook URL may post to the
channel), and so is a Telegram bot token in its API path. So nothing here logs or raises a
URL whole: :func:`redact` keeps the scheme and host. Every request goes through the HTTP
task's :func:`plugins.http.request.exchange`, hence through the SSRF guard
(:mod:`plugins._shared.guard`): a webhook on a private address needs ``TRELLIS_HTTP_ALLOW``.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext, RunnableTask, TaskFailed
from plugins.http.request import exchange

#: The properties every webhook task shares; ``options`` as Kestra's ``RequestOptions``.
URL = Prop("url", "string", required=True, description="The incoming webhook's address.")
PAYLOAD = Prop("payload", "any", description="The message: a JSON string or a map.")
OPTIONS = Prop(
    "options",
    "map",
    description="HTTP client options: connectTimeout, readTimeout (durations), headers (map).",
)


def redact(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/XXXX`` -> ``https://hooks.slack.com/…``:
    enough to tell where a message went, nothing that lets someone post there."""
    parts = urllib.parse.urlsplit(str(url))
    host = parts.hostname or "?"
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme or '?'}://{host}/…"


def as_payload(raw: Any, name: str = "payload") -> dict[str, Any] | list[Any]:
    """A payload given as a map, a list or a JSON string (Kestra's form), as data."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, list):
        return raw
    text = str(raw or "").strip()
    if not text:
        raise TaskFailed(f"{name} is empty")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TaskFailed(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict | list):
        raise TaskFailed(f"{name} must be a JSON object or array, not {type(data).__name__}")
    return data


def post_json(
    url: str,
    payload: Any,
    ctx: RunContext,
    options: Mapping[str, Any] | None = None,
    *,
    what: str = "notification",
) -> tuple[int, bytes]:
    """POST ``payload`` as JSON to ``url``; (status, body). A 4xx/5xx fails the task with the
    start of the answer; the URL only ever appears redacted."""
    url = str(url or "").strip()
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise TaskFailed(f"the {what} URL must be an http:// or https:// address")
    opts = dict(options or {})
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json; charset=utf-8")
    for name, value in dict(opts.get("headers") or {}).items():
        request.add_header(str(name), str(value))
    shown = redact(url)
    ctx.logger.debug(f"Sending a {what} to {shown} ({len(data)} bytes)")
    try:
        code, _headers, body = exchange(request, opts, {})
    except TaskFailed as exc:
        message = str(exc)
        for form in {url, request.full_url}:  # urllib may respell it (a fragment dropped)
            message = message.replace(form, shown)
        raise TaskFailed(message) from None
    if code >= 400:
        answer = body[:200].decode("utf-8", errors="replace")
        raise TaskFailed(f"the {what} to {shown} was refused: HTTP {code}: {answer}")
    ctx.logger.info(f"Sent a {what} to {shown} (HTTP {code})")
    return code, body


def require_url(props: Mapping[str, Any], name: str = "url") -> list[tuple[str, str]]:
    """Deploy-time check of a webhook address written literally (templates are checked
    when rendered)."""
    value = props.get(name)
    if not isinstance(value, str) or "{{" in value or "{%" in value:
        return []
    scheme = urllib.parse.urlsplit(value.strip()).scheme.lower()
    if scheme not in ("http", "https"):
        return [(name, "must be an http:// or https:// URL")]
    return []


class IncomingWebhook(RunnableTask):
    """Base of the chat webhooks: POST the JSON :meth:`payload` builds to ``url``.

    The payload property is sent as the user wrote it (rendered once, as every property;
    Kestra renders a payload string a second time, which would evaluate expressions found in
    the data it inserted: Trellis does not)."""

    #: Shown in log lines and errors ("Slack message").
    what: ClassVar[str] = "notification"
    properties: ClassVar = (URL, PAYLOAD, OPTIONS)

    #: Returns nothing: its work is the message sent.
    outputs: ClassVar = ()

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return require_url(props)

    def payload(self, props: dict[str, Any], ctx: RunContext) -> Any:
        if props.get("payload") in (None, ""):
            raise TaskFailed("payload is required")
        return as_payload(props["payload"])

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        post_json(props.get("url") or "", self.payload(props, ctx), ctx, props.get("options"),
                  what=self.what)  # fmt: skip
        return {}
