"""Microsoft Teams: a message through an incoming webhook, and the execution summary card.

The summary is a connector ``MessageCard`` (summary, theme colour, one section of facts),
the shape Kestra's Teams template sends; Teams' workflow webhooks accept it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext
from plugins.notifications.post import OPTIONS, URL, IncomingWebhook
from plugins.notifications.summary import EXECUTION_PROPS, Summary, summarize

_OLD = "io.kestra.plugin.notifications.teams"


class TeamsIncomingWebhook(IncomingWebhook):
    """Send a Microsoft Teams message through an incoming webhook; ``payload`` is a
    MessageCard or an Adaptive Card message as Teams documents them."""

    type = "trellis.notifications.teams.TeamsIncomingWebhook"
    aliases = (f"{_OLD}.TeamsIncomingWebhook",)
    what = "Teams message"


def teams_payload(summary: Summary, props: Mapping[str, Any]) -> dict[str, Any]:
    facts = [
        {"name": "Namespace", "value": summary.namespace},
        {"name": "Job", "value": summary.flow_id},
        {"name": "Execution", "value": summary.id},
        {"name": "Status", "value": summary.state},
    ]
    facts += [{"name": str(k), "value": str(v)} for k, v in summary.custom_fields.items()]
    section: dict[str, Any] = {"facts": facts, "markdown": True}
    if props.get("activityTitle"):
        section["activityTitle"] = str(props["activityTitle"])
    if props.get("activitySubtitle"):
        section["activitySubtitle"] = str(props["activitySubtitle"])
    if summary.custom_message:
        section["text"] = summary.custom_message
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": str(props.get("themeColor") or "0076D7"),
        "summary": f"{summary.title}: {summary.outcome}",
        "title": summary.title,
        "text": summary.outcome,
        "sections": [section],
    }
    if summary.link:
        card["potentialAction"] = [
            {"@type": "OpenUri", "name": "Details",
             "targets": [{"os": "default", "uri": summary.link}]}
        ]  # fmt: skip
    return card


class TeamsExecution(IncomingWebhook):
    """Send a Teams message summing up an execution (namespace, flow, id, state, duration,
    the failed task, a Details link when ``TRELLIS_URL`` is set)."""

    type = "trellis.notifications.teams.TeamsExecution"
    aliases = (f"{_OLD}.TeamsExecution",)
    what = "Teams message"
    properties: ClassVar = (
        URL,
        OPTIONS,
        *EXECUTION_PROPS,
        Prop("themeColor", "string", default="0076D7", description="The card's colour (hex)."),
        Prop("activityTitle", "string"),
        Prop("activitySubtitle", "string"),
    )

    def payload(self, props: dict[str, Any], ctx: RunContext) -> Any:
        return teams_payload(summarize(props, ctx), props)


PLUGINS = [TeamsIncomingWebhook, TeamsExecution]
