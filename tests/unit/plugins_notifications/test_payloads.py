"""Payload building and deploy-time validation of the notifications family: pure, no
server, no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kernel.plugin import TaskFailed
from kernel.registry import registry
from kernel.spec.model import SpecError
from kernel.spec.parse import parse_flow
from plugins.notifications.discord import discord_payload, rgb
from plugins.notifications.google_chat import google_chat_payload
from plugins.notifications.mail import addresses, file_entries, mail_bodies
from plugins.notifications.post import as_payload, redact
from plugins.notifications.slack import slack_payload
from plugins.notifications.summary import build_summary, human_duration, last_task
from plugins.notifications.teams import teams_payload
from plugins.notifications.telegram import telegram_text
from tests.unit.plugins_notifications.helpers import FAILED_EXECUTION

NOW = datetime(2026, 1, 2, 3, 10, tzinfo=UTC)
LINK = FAILED_EXECUTION["link"]


def failed(**kwargs):  # noqa: ANN003, ANN201
    return build_summary(FAILED_EXECUTION, now=NOW, **kwargs)


def succeeded(**kwargs):  # noqa: ANN003, ANN201
    execution = {
        **FAILED_EXECUTION,
        "state": {"current": "SUCCESS", "startDate": "2026-01-02T03:04:05.000Z",
                  "endDate": "2026-01-02T03:04:05.250Z"},
        "taskRunList": [{"id": "r1", "taskId": "only", "state": {"current": "SUCCESS"}}],
        "link": None,
    }  # fmt: skip
    return build_summary(execution, now=NOW, **kwargs)


# ------------------------------------------------------------------ the summary


def test_summary_of_a_failed_execution_names_the_failed_task_and_duration() -> None:
    summary = failed()

    assert summary.title == "[company.team] nightly ➛ FAILED"
    assert summary.duration == "2m 5s"
    assert summary.first_failed is not None
    assert summary.first_failed["taskId"] == "load"
    assert summary.outcome == "Failed on task `load` after 2m 5s"
    assert summary.link == LINK


def test_summary_of_a_successful_execution_has_no_failed_task() -> None:
    summary = succeeded()

    assert summary.first_failed is None
    assert summary.outcome == "Succeeded after 0.25s"
    assert summary.variables()["firstFailed"] is False
    assert summary.variables()["lastTask"]["taskId"] == "only"


def test_a_running_execution_is_measured_up_to_now() -> None:
    running = {**FAILED_EXECUTION, "state": {"current": "RUNNING",
                                             "startDate": "2026-01-02T03:09:00Z"}}  # fmt: skip
    assert build_summary(running, now=NOW).duration == "1m 0s"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.25, "0.25s"), (12.3456, "12.346s"), (65, "1m 5s"), (7207, "2h 0m 7s")],
)
def test_human_duration(seconds, text) -> None:
    assert human_duration(seconds) == text


def test_last_task_is_none_without_finished_runs() -> None:
    assert last_task({"taskRunList": [{"taskId": "a", "state": {"current": "RUNNING"}}]}) is None


def test_custom_fields_must_be_a_map() -> None:
    with pytest.raises(TaskFailed, match="customFields must be a map"):
        failed(custom_fields=["a"])


# ------------------------------------------------------------------ Slack


def test_slack_execution_payload_field_by_field() -> None:
    summary = failed(custom_message="Prod is down", custom_fields={"Env": "prod", "Try": 2})

    payload = slack_payload(summary, {"channel": "#alerts", "username": "Trellis",
                                      "iconUrl": "https://x/i.png", "iconEmoji": ":fire:"})  # fmt: skip

    text = f"*<{LINK}|[company.team] nightly ➛ FAILED>*\n> Failed on task `load` after 2m 5s"
    assert payload["text"] == text
    assert payload["channel"] == "#alerts"
    assert payload["username"] == "Trellis"
    assert payload["icon_url"] == "https://x/i.png"
    assert payload["icon_emoji"] == ":fire:"
    custom, headline = payload["blocks"]
    assert custom == {"type": "section", "text": {"type": "mrkdwn", "text": "Prod is down"}}
    assert headline == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": text},
        "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Details"},
                      "url": LINK},
    }  # fmt: skip
    (attachment,) = payload["attachments"]
    assert attachment["color"] == "danger"
    assert attachment["ts"] == int(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp())
    assert attachment["fields"] == [
        {"title": "Namespace", "value": "company.team", "short": True},
        {"title": "Job", "value": "nightly", "short": True},
        {"title": "Execution", "value": "4Xx9failedexec", "short": True},
        {"title": "Status", "value": "FAILED", "short": True},
        {"title": "Env", "value": "prod", "short": True},
        {"title": "Try", "value": "2", "short": True},
    ]
    assert set(payload) == {"text", "blocks", "attachments", "channel", "username",
                            "icon_url", "icon_emoji"}  # fmt: skip
    json.dumps(payload)  # serialisable as it is


def test_slack_execution_without_link_has_no_button_and_green_on_success() -> None:
    payload = slack_payload(succeeded(), {})

    assert payload["text"] == "*[company.team] nightly ➛ SUCCESS*\n> Succeeded after 0.25s"
    (block,) = payload["blocks"]
    assert "accessory" not in block
    assert payload["attachments"][0]["color"] == "good"
    assert "channel" not in payload


# ------------------------------------------------------------------ other chats


def test_discord_payload_has_the_summary_embed() -> None:
    payload = discord_payload(failed(), {"username": "bot", "avatarUrl": "https://x/a.png"})

    assert payload["username"] == "bot"
    assert payload["avatar_url"] == "https://x/a.png"
    assert payload["tts"] is False
    (embed,) = payload["embeds"]
    assert embed["title"] == "[company.team] nightly ➛ FAILED"
    assert embed["url"] == LINK
    assert embed["description"] == (
        "Namespace: company.team\nFlow ID: nightly\nExecution ID: 4Xx9failedexec\n"
        "Execution Status: FAILED"
    )
    assert embed["footer"] == {"text": "Failed on task `load` after 2m 5s"}


def test_discord_embed_list_dresses_the_summary() -> None:
    props = {"content": "hey", "embedList": [{"title": "Nightly", "color": [255, 0, 16],
                                              "thumbnail": "https://x/t.png"}]}  # fmt: skip
    payload = discord_payload(failed(), props)

    assert payload["content"] == "hey"
    (embed,) = payload["embeds"]
    assert embed["title"] == "Nightly"
    assert embed["color"] == 0xFF0010
    assert embed["thumbnail"] == {"url": "https://x/t.png"}
    assert embed["footer"]["text"].startswith("Failed on task `load`")


def test_discord_color_must_be_three_numbers() -> None:
    with pytest.raises(TaskFailed, match=r"\[r, g, b\]"):
        rgb([1, 2])


def test_teams_card() -> None:
    card = teams_payload(failed(custom_fields={"Env": "prod"}),
                         {"themeColor": "FF0000", "activityTitle": "Nightly"})  # fmt: skip

    assert card["@type"] == "MessageCard"
    assert card["@context"] == "http://schema.org/extensions"
    assert card["themeColor"] == "FF0000"
    assert card["summary"] == "[company.team] nightly ➛ FAILED: Failed on task `load` after 2m 5s"
    (section,) = card["sections"]
    assert section["activityTitle"] == "Nightly"
    assert section["facts"] == [
        {"name": "Namespace", "value": "company.team"},
        {"name": "Job", "value": "nightly"},
        {"name": "Execution", "value": "4Xx9failedexec"},
        {"name": "Status", "value": "FAILED"},
        {"name": "Env", "value": "prod"},
    ]
    assert card["potentialAction"][0]["targets"][0]["uri"] == LINK


def test_google_chat_text() -> None:
    payload = google_chat_payload(failed(custom_message="Look"), {"text": "Alert"})

    assert list(payload) == ["text"]
    lines = payload["text"].split("\n")
    assert lines[0] == "Alert"
    assert lines[1] == "Look"
    assert lines[2] == f"*<{LINK}|[company.team] nightly ➛ FAILED>*"
    assert "Execution ID 4Xx9failedexec" in lines[3]
    assert lines[-1] == "Failed on task `load` after 2m 5s"


def test_telegram_text() -> None:
    text = telegram_text(failed())

    assert "Execution: 4Xx9failedexec" in text
    assert "Failed on task `load` after 2m 5s" in text
    assert text.endswith(LINK)


def test_mail_bodies_escape_html() -> None:
    plain, html_text = mail_bodies(failed(custom_message="<b>x</b>"))

    assert "Execution: 4Xx9failedexec" in plain
    assert "&lt;b&gt;x&lt;/b&gt;" in html_text
    assert f'<a href="{LINK}">' in html_text


# ------------------------------------------------------------------ helpers


def test_redact_keeps_only_scheme_and_host() -> None:
    assert redact("https://hooks.slack.com/services/T0/B0/XXXX") == "https://hooks.slack.com/…"
    assert redact("http://127.0.0.1:8080/bot123:ABC/sendMessage") == "http://127.0.0.1:8080/…"


def test_payload_from_json_text_or_map() -> None:
    assert as_payload('{"text": "hi"}') == {"text": "hi"}
    assert as_payload({"text": "hi"}) == {"text": "hi"}
    with pytest.raises(TaskFailed, match="not valid JSON"):
        as_payload("{text: hi}")
    with pytest.raises(TaskFailed, match="JSON object or array"):
        as_payload('"hi"')


def test_addresses_and_attachments_parsing() -> None:
    assert addresses("a@x.org; b@y.org,c@z.org") == ["a@x.org", "b@y.org", "c@z.org"]
    assert addresses(["a@x.org"]) == ["a@x.org"]
    assert addresses(None) == []
    entries = file_entries('[{"name": "r.csv", "uri": "kestra:///a/r.csv"}]', "attachments")
    assert entries == [{"name": "r.csv", "uri": "kestra:///a/r.csv", "contentType": "text/csv"}]
    assert file_entries(json.dumps(json.dumps([{"uri": "kestra:///a/b.bin"}])), "a") == [
        {"name": "b.bin", "uri": "kestra:///a/b.bin", "contentType": "application/octet-stream"}
    ]
    with pytest.raises(TaskFailed, match=r"attachments\[0\] needs a uri"):
        file_entries([{"name": "x"}], "attachments")


# ------------------------------------------------------------------ registry and deploy


@pytest.mark.parametrize(
    "name",
    [
        "io.kestra.plugin.notifications.slack.SlackIncomingWebhook",
        "io.kestra.plugin.notifications.slack.SlackExecution",
        "io.kestra.plugin.slack.SlackExecution",
        "io.kestra.plugin.notifications.discord.DiscordIncomingWebhook",
        "io.kestra.plugin.notifications.discord.DiscordExecution",
        "io.kestra.plugin.notifications.teams.TeamsIncomingWebhook",
        "io.kestra.plugin.notifications.teams.TeamsExecution",
        "io.kestra.plugin.notifications.google.GoogleChatIncomingWebhook",
        "io.kestra.plugin.notifications.google.GoogleChatExecution",
        "io.kestra.plugin.notifications.telegram.TelegramSend",
        "io.kestra.plugin.notifications.telegram.TelegramExecution",
        "io.kestra.plugin.notifications.mail.MailSend",
        "io.kestra.plugin.notifications.mail.MailExecution",
        "trellis.notifications.webhook.WebhookSend",
    ],
)
def test_kestra_names_are_registered_through_the_entry_point(name) -> None:
    cls = registry.get(name)
    assert cls.__module__.startswith("plugins.notifications.")


def flow(task: str) -> str:
    return f"id: notify\nnamespace: test.notify\ntasks:\n  - id: t\n{task}"


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("    type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook\n"
         "    messageText: hi\n", "missing required property 'url'"),
        ("    type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook\n"
         "    url: https://hooks.slack.com/services/x\n", "set payload or messageText"),
        ("    type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook\n"
         "    url: ftp://hooks.slack.com/x\n    messageText: hi\n", "http:// or https://"),
        ("    type: io.kestra.plugin.notifications.slack.SlackExecution\n"
         "    url: https://hooks.slack.com/x\n    payload: '{}'\n", "unknown property 'payload'"),
        ("    type: io.kestra.plugin.notifications.mail.MailSend\n"
         "    host: smtp.example.com\n    from: a@x.org\n    to: b@x.org\n"
         "    transportStrategy: STARTTLS\n", "transportStrategy"),
        ("    type: io.kestra.plugin.notifications.mail.MailSend\n"
         "    host: smtp.example.com\n    from: a@x.org\n    to: b@x.org\n    port: 70000\n",
         "between 1 and 65535"),
        ("    type: io.kestra.plugin.notifications.telegram.TelegramSend\n"
         "    token: t\n    payload: hi\n", "missing required property 'channel'"),
    ],
)  # fmt: skip
def test_bad_configuration_is_refused_at_deploy(task, message) -> None:
    with pytest.raises(SpecError, match=message):
        parse_flow(flow(task))


def test_a_templated_url_is_checked_only_when_rendered() -> None:
    spec = parse_flow(flow(
        "    type: io.kestra.plugin.notifications.slack.SlackExecution\n"
        "    url: \"{{ secret('SLACK') }}\"\n    customFields:\n      env: prod\n"
    ))  # fmt: skip
    assert spec.tasks[0].type == "trellis.notifications.slack.SlackExecution"


def test_usable_in_listeners_and_errors_branches() -> None:
    spec = parse_flow(
        """id: notify
namespace: test.notify
tasks:
  - id: work
    type: io.kestra.plugin.core.log.Log
    message: hi
errors:
  - id: mail
    type: io.kestra.plugin.notifications.mail.MailExecution
    host: smtp.example.com
    from: a@example.com
    to: b@example.com
listeners:
  - conditions:
      - type: io.kestra.plugin.core.condition.ExecutionStatusCondition
        in: [FAILED]
    tasks:
      - id: slack
        type: io.kestra.plugin.notifications.slack.SlackExecution
        url: https://hooks.slack.com/services/x
"""
    )
    assert spec.errors[0].type == "trellis.notifications.mail.MailExecution"
