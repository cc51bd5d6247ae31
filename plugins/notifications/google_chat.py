"""Google Chat: a message through a space's incoming webhook, and the execution summary.

Google Chat's simple messages are ``{"text": ...}`` with its own markup (``*bold*``,
```` `code` ````, ``<url|label>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext
from plugins.notifications.post import OPTIONS, URL, IncomingWebhook
from plugins.notifications.summary import EXECUTION_PROPS, Summary, summarize

_OLD = "io.kestra.plugin.notifications.google"


class GoogleChatIncomingWebhook(IncomingWebhook):
    """Send a Google Chat message through a space's incoming webhook; ``payload`` as Google
    Chat documents it (``text``, ``cardsV2``...)."""

    type = "trellis.notifications.google.GoogleChatIncomingWebhook"
    aliases = (f"{_OLD}.GoogleChatIncomingWebhook",)
    what = "Google Chat message"


def google_chat_payload(summary: Summary, props: Mapping[str, Any]) -> dict[str, Any]:
    headline = f"<{summary.link}|{summary.title}>" if summary.link else summary.title
    lines = []
    if props.get("text"):
        lines.append(str(props["text"]))
    if summary.custom_message:
        lines.append(summary.custom_message)
    lines.append(f"*{headline}*")
    lines.append(
        f"Namespace {summary.namespace}, Flow ID {summary.flow_id}, "
        f"Execution ID {summary.id}, Execution Status {summary.state}"
    )
    lines += [f"{k}: {v}" for k, v in summary.custom_fields.items()]
    lines.append(summary.outcome)
    return {"text": "\n".join(lines)}


class GoogleChatExecution(IncomingWebhook):
    """Send a Google Chat message summing up an execution (namespace, flow, id, state,
    duration, the failed task, a link when ``TRELLIS_URL`` is set)."""

    type = "trellis.notifications.google.GoogleChatExecution"
    aliases = (f"{_OLD}.GoogleChatExecution",)
    what = "Google Chat message"
    properties: ClassVar = (
        URL,
        OPTIONS,
        *EXECUTION_PROPS,
        Prop("text", "string", description="A first line above the summary."),
    )

    def payload(self, props: dict[str, Any], ctx: RunContext) -> Any:
        return google_chat_payload(summarize(props, ctx), props)


PLUGINS = [GoogleChatIncomingWebhook, GoogleChatExecution]
