"""Discord: a message through a channel webhook, and the execution summary as an embed.

Discord's webhook body is ``content`` (text), ``username``, ``avatar_url``, ``tts`` and up to
ten ``embeds`` (title, description, url, color as an integer, thumbnail, author, footer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext, TaskFailed
from plugins.notifications.post import OPTIONS, URL, IncomingWebhook
from plugins.notifications.summary import EXECUTION_PROPS, Summary, summarize

_OLD = "io.kestra.plugin.notifications.discord"


class DiscordIncomingWebhook(IncomingWebhook):
    """Send a Discord message through a channel webhook; ``payload`` as Discord documents it
    (``content``, ``embeds``...)."""

    type = "trellis.notifications.discord.DiscordIncomingWebhook"
    aliases = (f"{_OLD}.DiscordIncomingWebhook", "io.kestra.plugin.discord.DiscordIncomingWebhook")
    what = "Discord message"
    examples = (
        """id: discord_hello
namespace: trellis.examples
tasks:
  - id: send
    type: io.kestra.plugin.notifications.discord.DiscordIncomingWebhook
    url: "{{ secret('DISCORD_WEBHOOK') }}"
    payload: |
      {"content": "Hello from {{ flow.id }}"}
""",
    )


def rgb(color: Any) -> int:
    """``[255, 0, 0]`` -> ``0xFF0000``, the integer Discord wants."""
    if isinstance(color, int):
        return color
    if not isinstance(color, list | tuple) or len(color) < 3:
        raise TaskFailed(f"an embed color is a list of three numbers [r, g, b], not {color!r}")
    red, green, blue = (max(0, min(255, int(c))) for c in color[:3])
    return (red << 16) + (green << 8) + blue


def embed(entry: Mapping[str, Any], avatar_url: str | None) -> dict[str, Any]:
    """One of the user's ``embedList`` entries in Discord's shape."""
    out: dict[str, Any] = {}
    for key in ("title", "description"):
        if entry.get(key) not in (None, ""):
            out[key] = str(entry[key])
    if entry.get("websiteUrl"):
        out["url"] = str(entry["websiteUrl"])
    if entry.get("thumbnail"):
        out["thumbnail"] = {"url": str(entry["thumbnail"])}
    if entry.get("authorName"):
        author = {"name": str(entry["authorName"])}
        if entry.get("websiteUrl"):
            author["url"] = str(entry["websiteUrl"])
        if avatar_url:
            author["icon_url"] = avatar_url
        out["author"] = author
    if entry.get("color") is not None:
        out["color"] = rgb(entry["color"])
    if entry.get("footer"):
        out["footer"] = {"text": str(entry["footer"])}
    return out


def summary_embed(summary: Summary) -> dict[str, Any]:
    lines = [
        f"Namespace: {summary.namespace}",
        f"Flow ID: {summary.flow_id}",
        f"Execution ID: {summary.id}",
        f"Execution Status: {summary.state}",
    ]
    lines += [f"{k}: {v}" for k, v in summary.custom_fields.items()]
    out: dict[str, Any] = {
        "title": summary.title,
        "description": "\n".join(lines),
        "footer": {"text": summary.outcome},
    }
    if summary.link:
        out["url"] = summary.link
    return out


def discord_payload(summary: Summary, props: Mapping[str, Any]) -> dict[str, Any]:
    """The summary embed (merged into the first of the user's ``embedList``, if any: the
    user's title, colour and thumbnail dress the summary), with ``content``, ``username``
    and ``avatar_url`` when set."""
    avatar = props.get("avatarUrl") or None
    summary_part = summary_embed(summary)
    embeds = [embed(e, avatar) for e in (props.get("embedList") or [])]
    if embeds:
        embeds[0] = {**embeds[0], **{k: v for k, v in summary_part.items() if k != "title"}}
        embeds[0].setdefault("title", summary_part["title"])
    else:
        embeds = [summary_part]
    payload: dict[str, Any] = {"tts": False, "embeds": embeds}
    content = props.get("content") or summary.custom_message
    if content:
        payload["content"] = str(content)
    if props.get("username"):
        payload["username"] = str(props["username"])
    if avatar:
        payload["avatar_url"] = str(avatar)
    return payload


class DiscordExecution(IncomingWebhook):
    """Send a Discord message summing up an execution (namespace, flow, id, state, duration,
    the failed task, a link when ``TRELLIS_URL`` is set)."""

    type = "trellis.notifications.discord.DiscordExecution"
    aliases = (f"{_OLD}.DiscordExecution", "io.kestra.plugin.discord.DiscordExecution")
    what = "Discord message"
    properties: ClassVar = (
        URL,
        OPTIONS,
        *EXECUTION_PROPS,
        Prop("username", "string", description="The webhook's shown name."),
        Prop("avatarUrl", "string", description="The webhook's shown avatar."),
        Prop("content", "string", description="Text above the embed."),
        Prop(
            "embedList",
            "list",
            description="Embeds: title, description, websiteUrl, thumbnail, authorName, "
            "color ([r, g, b]), footer.",
        ),
    )

    def payload(self, props: dict[str, Any], ctx: RunContext) -> Any:
        return discord_payload(summarize(props, ctx), props)


PLUGINS = [DiscordIncomingWebhook, DiscordExecution]
