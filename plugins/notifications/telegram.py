"""Telegram: a text message from a bot (Bot API ``sendMessage``), and the execution summary.

The bot token sits in the API path (``/bot<token>/sendMessage``), so it is a secret twice
over: it is never logged, and errors show the API's host only. ``endpointOverride``
(Kestra's name) points the task at another Bot API server, a local one or a test double.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext, RunnableTask, TaskFailed
from plugins.notifications.post import OPTIONS, post_json, require_url
from plugins.notifications.summary import EXECUTION_PROPS, Summary, summarize

_OLD = "io.kestra.plugin.notifications.telegram"
API = "https://api.telegram.org"

_BOT = (
    Prop("token", "string", required=True, description="The bot's token (a secret)."),
    Prop("channel", "string", required=True, description="Chat id or @channelusername."),
    Prop("endpointOverride", "string", description=f"Bot API address; {API} by default."),
    OPTIONS,
)
_PARSE_MODE = Prop("parseMode", "string", choices=("MarkdownV2", "Markdown", "HTML"),
                   description="How Telegram formats the text.")  # fmt: skip


def send_message(text: str, props: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
    """Call ``sendMessage``; the Bot API's ``result`` (the message sent)."""
    token = str(props.get("token") or "").strip()
    if not token:
        raise TaskFailed("token is required")
    base = str(props.get("endpointOverride") or API).rstrip("/")
    url = f"{base}/bot{urllib.parse.quote(token, safe=':')}/sendMessage"
    body: dict[str, Any] = {"chat_id": str(props.get("channel") or ""), "text": text}
    if props.get("parseMode"):
        body["parse_mode"] = str(props["parseMode"])
    _code, raw = post_json(url, body, ctx, props.get("options"), what="Telegram message")
    try:
        answer = json.loads(raw.decode("utf-8") or "{}")
    except ValueError:
        answer = {}
    if not isinstance(answer, dict) or not answer.get("ok"):
        reason = answer.get("description") if isinstance(answer, dict) else None
        raise TaskFailed(f"Telegram did not send the message: {reason or 'no ok in answer'}")
    return answer.get("result") or {}


class TelegramSend(RunnableTask):
    """Send a text message from a Telegram bot to a chat or channel; outputs nothing."""

    type = "trellis.notifications.telegram.TelegramSend"
    aliases = (f"{_OLD}.TelegramSend",)
    properties: ClassVar = (
        *_BOT,
        _PARSE_MODE,
        Prop("payload", "string", required=True, description="The message's text."),
    )
    examples = (
        """id: telegram_hello
namespace: trellis.examples
tasks:
  - id: send
    type: io.kestra.plugin.notifications.telegram.TelegramSend
    token: "{{ secret('TELEGRAM_TOKEN') }}"
    channel: "@my_channel"
    payload: "Flow {{ flow.id }} finished"
""",
    )

    #: Returns nothing: its work is the message sent.
    outputs: ClassVar = ()

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return require_url(props, "endpointOverride")

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        send_message(str(props.get("payload") or ""), props, ctx)
        return {}


def telegram_text(summary: Summary) -> str:
    lines = [summary.custom_message] if summary.custom_message else []
    lines += [
        summary.title,
        f"Namespace: {summary.namespace}",
        f"Flow: {summary.flow_id}",
        f"Execution: {summary.id}",
        f"Status: {summary.state}",
    ]
    lines += [f"{k}: {v}" for k, v in summary.custom_fields.items()]
    lines.append(summary.outcome)
    if summary.link:
        lines.append(summary.link)
    return "\n".join(lines)


class TelegramExecution(RunnableTask):
    """Send a Telegram message summing up an execution."""

    type = "trellis.notifications.telegram.TelegramExecution"
    aliases = (f"{_OLD}.TelegramExecution",)
    properties: ClassVar = (*_BOT, *EXECUTION_PROPS)

    #: Returns nothing: its work is the message sent.
    outputs: ClassVar = ()

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return require_url(props, "endpointOverride")

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        send_message(telegram_text(summarize(props, ctx)), props, ctx)
        return {}


PLUGINS = [TelegramSend, TelegramExecution]
