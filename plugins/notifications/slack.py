"""Slack: a message through an incoming webhook, and the execution summary message.

The summary follows Slack's incoming-webhook payload (``text`` as the notification's
fallback, ``blocks`` for the layout, legacy ``attachments`` for the coloured field list),
with the fields Kestra's Slack template sends, so a channel's messages look the same after
moving from Kestra. Rocket.Chat and Mattermost accept the same payloads.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext, TaskFailed
from plugins.notifications.post import OPTIONS, URL, IncomingWebhook, as_payload
from plugins.notifications.summary import EXECUTION_PROPS, Summary, summarize

_OLD = "io.kestra.plugin.notifications.slack"
_NEW = "io.kestra.plugin.slack"

#: Attachment colours Slack names: green, yellow, red.
COLORS = {"SUCCESS": "good", "WARNING": "warning"}


class SlackIncomingWebhook(IncomingWebhook):
    """Send a Slack message through an incoming webhook: ``payload`` as Slack documents it
    (``text``, ``blocks``, ``attachments``...), or just ``messageText``."""

    type = "trellis.notifications.slack.SlackIncomingWebhook"
    aliases = (
        f"{_OLD}.SlackIncomingWebhook",
        f"{_NEW}.SlackIncomingWebhook",
        f"{_NEW}.notifications.SlackIncomingWebhook",
        "org.kestra.task.notifications.slack.SlackIncomingWebhook",
    )
    what = "Slack message"
    properties: ClassVar = (
        *IncomingWebhook.properties,
        Prop(
            "messageText",
            "string",
            description="The message's text (Slack markdown); sets `text` of the payload.",
        ),
    )
    examples = (
        """id: slack_hello
namespace: trellis.examples
tasks:
  - id: hello
    type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
    url: "{{ secret('SLACK_WEBHOOK') }}"
    messageText: "Flow {{ flow.namespace }}.{{ flow.id }} ran ({{ execution.id }})"
""",
    )

    @classmethod
    def validate(cls, props: Any) -> list[tuple[str, str]]:
        errors = super().validate(props)
        if props.get("payload") in (None, "") and props.get("messageText") in (None, ""):
            errors.append(("payload", "set payload or messageText"))
        return errors

    def payload(self, props: dict[str, Any], ctx: RunContext) -> Any:
        text = props.get("messageText")
        if props.get("payload") in (None, ""):
            if text in (None, ""):
                raise TaskFailed("set payload or messageText")
            return {"text": str(text)}
        body = as_payload(props["payload"])
        if text not in (None, "") and isinstance(body, dict):
            body["text"] = str(text)
        return body


def slack_payload(summary: Summary, props: dict[str, Any]) -> dict[str, Any]:
    """The execution message: a fallback ``text``, ``blocks`` (the custom message, then the
    headline with a Details button to the execution's page) and one ``attachments`` entry
    coloured by the state, listing namespace, flow, execution, state and custom fields."""
    link = summary.link
    headline = f"<{link}|{summary.title}>" if link else summary.title
    text = f"*{headline}*\n> {summary.outcome}"
    blocks: list[dict[str, Any]] = []
    if summary.custom_message:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": summary.custom_message}}
        )
    section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if link:
        section["accessory"] = {
            "type": "button",
            "text": {"type": "plain_text", "text": "Details"},
            "url": link,
        }
    blocks.append(section)
    fields = [
        {"title": "Namespace", "value": summary.namespace, "short": True},
        {"title": "Job", "value": summary.flow_id, "short": True},
        {"title": "Execution", "value": summary.id, "short": True},
        {"title": "Status", "value": summary.state, "short": True},
    ]
    fields += [
        {"title": str(k), "value": v if isinstance(v, str) else str(v), "short": True}
        for k, v in summary.custom_fields.items()
    ]
    attachment: dict[str, Any] = {
        "color": COLORS.get(summary.state, "danger"),
        "fields": fields,
    }
    if summary.start is not None:
        attachment["ts"] = int(summary.start.timestamp())
    payload: dict[str, Any] = {"text": text, "blocks": blocks, "attachments": [attachment]}
    for prop, key in (("channel", "channel"), ("username", "username"),
                      ("iconUrl", "icon_url"), ("iconEmoji", "icon_emoji")):  # fmt: skip
        if props.get(prop) not in (None, ""):
            payload[key] = str(props[prop])
    return payload


class SlackExecution(IncomingWebhook):
    """Send a Slack message summing up an execution: its namespace, flow, id and state, how
    long it ran, the task it failed on, and a link to its page (when ``TRELLIS_URL`` is set).

    Reports on this execution unless ``executionId`` names another (a flow started by a Flow
    trigger passes ``{{ trigger.executionId }}``). In an ``errors`` branch the execution is
    still running, so its state shows RUNNING and the failed task is named."""

    type = "trellis.notifications.slack.SlackExecution"
    aliases = (
        f"{_OLD}.SlackExecution",
        f"{_NEW}.SlackExecution",
        f"{_NEW}.notifications.SlackExecution",
        "org.kestra.task.notifications.slack.SlackExecution",
    )
    what = "Slack message"
    properties: ClassVar = (
        URL,
        OPTIONS,
        *EXECUTION_PROPS,
        Prop("channel", "string", description="Channel to post to (when the webhook allows)."),
        Prop("username", "string", description="Author name shown on the message."),
        Prop("iconUrl", "string", description="Address of the author's icon."),
        Prop("iconEmoji", "string", description="Emoji used as the author's icon."),
    )
    examples = (
        """id: failure_alert
namespace: trellis.examples
tasks:
  - id: send_alert
    type: io.kestra.plugin.notifications.slack.SlackExecution
    url: "{{ secret('SLACK_WEBHOOK') }}"
    channel: "#alerts"
    executionId: "{{ trigger.executionId }}"
    customMessage: "A production flow failed"
triggers:
  - id: on_failure
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [FAILED, WARNING]
""",
    )

    def payload(self, props: dict[str, Any], ctx: RunContext) -> Any:
        return slack_payload(summarize(props, ctx), props)


PLUGINS = [SlackIncomingWebhook, SlackExecution]
