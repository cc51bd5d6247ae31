"""The chat webhooks and Telegram against a local HTTP server of the tests' own that records
every request (http.server in a thread), through the HTTP task's host guard."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.plugin import TaskFailed
from plugins.notifications.discord import DiscordExecution, DiscordIncomingWebhook
from plugins.notifications.google_chat import GoogleChatExecution, GoogleChatIncomingWebhook
from plugins.notifications.slack import SlackExecution, SlackIncomingWebhook
from plugins.notifications.teams import TeamsExecution, TeamsIncomingWebhook
from plugins.notifications.telegram import TelegramExecution, TelegramSend
from plugins.notifications.webhook import WebhookExecution, WebhookSend
from tests.unit.fake_context import allow_loopback
from tests.unit.plugins_notifications.helpers import (
    FAILED_EXECUTION,
    Recorder,
    SummaryContext,
    recording_server,
)

EXEC_ID = FAILED_EXECUTION["id"]


@pytest.fixture(scope="module")
def server() -> Iterator[Recorder]:
    with recording_server() as recorder:
        yield recorder


@pytest.fixture(autouse=True)
def _loopback_allowed(settings, server) -> None:
    """The test server is on 127.0.0.1, which the SSRF guard refuses by default."""
    allow_loopback(settings)
    server.requests.clear()
    server.answers.clear()


@pytest.fixture
def ctx(tmp_path: Path) -> SummaryContext:
    return SummaryContext(tmp_path)


def test_slack_incoming_webhook_posts_the_payload_as_json(server, ctx) -> None:
    payload = '{"text": "Hello", "blocks": [{"type": "divider"}]}'
    url = f"{server.url}/services/T000/B000/SECRETPART"

    assert SlackIncomingWebhook().run({"url": url, "payload": payload}, ctx) == {}

    sent = server.last()
    assert sent.method == "POST"
    assert sent.path == "/services/T000/B000/SECRETPART"
    assert sent.headers["Content-Type"] == "application/json; charset=utf-8"
    assert sent.json() == {"text": "Hello", "blocks": [{"type": "divider"}]}
    logged = "\n".join(ctx.logger.lines())
    assert "SECRETPART" not in logged
    assert f"{server.url}/…" in logged


def test_slack_message_text_alone(server, ctx) -> None:
    SlackIncomingWebhook().run({"url": f"{server.url}/s", "messageText": "*bold* move"}, ctx)

    assert server.last().json() == {"text": "*bold* move"}


def test_slack_execution_posts_slacks_documented_fields(server, ctx) -> None:
    props = {"url": f"{server.url}/slack", "channel": "#ops", "customMessage": "Check it",
             "customFields": {"Env": "prod"}}  # fmt: skip

    SlackExecution().run(props, ctx)

    body = server.last().json()
    assert ctx.asked == [None]  # this execution, as executionId was not given
    assert set(body) == {"text", "blocks", "attachments", "channel"}
    assert body["channel"] == "#ops"
    assert body["text"] == (
        f"*<{FAILED_EXECUTION['link']}|[company.team] nightly ➛ FAILED>*\n"
        "> Failed on task `load` after 2m 5s"
    )
    assert [b["type"] for b in body["blocks"]] == ["section", "section"]
    assert body["blocks"][0]["text"] == {"type": "mrkdwn", "text": "Check it"}
    assert body["blocks"][1]["accessory"]["url"] == FAILED_EXECUTION["link"]
    fields = {f["title"]: f["value"] for f in body["attachments"][0]["fields"]}
    assert fields == {"Namespace": "company.team", "Job": "nightly", "Execution": EXEC_ID,
                      "Status": "FAILED", "Env": "prod"}  # fmt: skip
    assert body["attachments"][0]["color"] == "danger"
    assert isinstance(body["attachments"][0]["ts"], int)


def test_execution_id_names_another_execution(server, tmp_path) -> None:
    other = {**FAILED_EXECUTION, "id": "other1", "flowId": "other-flow"}
    ctx = SummaryContext(tmp_path, {EXEC_ID: FAILED_EXECUTION, "other1": other})

    SlackExecution().run({"url": f"{server.url}/s", "executionId": "other1"}, ctx)

    assert ctx.asked == ["other1"]
    assert "other-flow" in server.last().json()["text"]


def test_discord(server, ctx) -> None:
    DiscordIncomingWebhook().run({"url": f"{server.url}/d", "payload": {"content": "hi"}}, ctx)
    assert server.last().json() == {"content": "hi"}

    DiscordExecution().run({"url": f"{server.url}/d", "username": "bot"}, ctx)
    body = server.last().json()
    assert body["username"] == "bot"
    assert "Execution ID: " + EXEC_ID in body["embeds"][0]["description"]


def test_teams(server, ctx) -> None:
    TeamsIncomingWebhook().run({"url": f"{server.url}/t", "payload": '{"text": "hi"}'}, ctx)
    assert server.last().json() == {"text": "hi"}

    TeamsExecution().run({"url": f"{server.url}/t", "themeColor": "0076D7"}, ctx)
    body = server.last().json()
    assert body["@type"] == "MessageCard"
    assert {"name": "Execution", "value": EXEC_ID} in body["sections"][0]["facts"]


def test_google_chat(server, ctx) -> None:
    GoogleChatIncomingWebhook().run({"url": f"{server.url}/g", "payload": '{"text": "hi"}'}, ctx)
    assert server.last().json() == {"text": "hi"}

    GoogleChatExecution().run({"url": f"{server.url}/g"}, ctx)
    assert f"Execution ID {EXEC_ID}" in server.last().json()["text"]


def test_telegram_send_calls_send_message_and_never_logs_the_token(server, tmp_path) -> None:
    token = "123456:AAF-secret-token"
    ctx = SummaryContext(tmp_path)
    server.answers[f"/bot{token}/sendMessage"] = (200, b'{"ok": true, "result": {"id": 1}}')
    props = {"token": token, "channel": "@ops", "payload": "hello",
             "endpointOverride": server.url, "parseMode": "HTML"}  # fmt: skip

    assert TelegramSend().run(props, ctx) == {}

    sent = server.last()
    assert sent.path == f"/bot{token}/sendMessage"
    assert sent.json() == {"chat_id": "@ops", "text": "hello", "parse_mode": "HTML"}
    assert not any(token in line for line in ctx.logger.lines())


def test_telegram_refusal_fails_without_the_token(server, ctx) -> None:
    token = "999:refused-token"
    server.answers[f"/bot{token}/sendMessage"] = (
        400, b'{"ok": false, "description": "Bad Request: chat not found"}'
    )  # fmt: skip
    props = {"token": token, "channel": "nobody", "payload": "x", "endpointOverride": server.url}

    with pytest.raises(TaskFailed) as info:
        TelegramSend().run(props, ctx)

    assert "chat not found" in str(info.value)
    assert token not in str(info.value)


def test_telegram_execution(server, ctx) -> None:
    server.answers["/bott/sendMessage"] = (200, b'{"ok": true, "result": {}}')
    TelegramExecution().run({"token": "t", "channel": "1", "endpointOverride": server.url}, ctx)

    body = server.last().json()
    assert body["chat_id"] == "1"
    assert f"Execution: {EXEC_ID}" in body["text"]


def test_generic_webhook_with_headers_and_the_execution_summary(server, ctx) -> None:
    WebhookSend().run({"url": f"{server.url}/w", "payload": [1, 2],
                       "options": {"headers": {"Authorization": "Bearer x"}}}, ctx)  # fmt: skip
    assert server.last().json() == [1, 2]
    assert server.last().headers["Authorization"] == "Bearer x"

    WebhookExecution().run({"url": f"{server.url}/w", "customMessage": "m"}, ctx)
    body = server.last().json()
    assert body["execution"]["id"] == EXEC_ID
    assert body["firstFailed"]["taskId"] == "load"
    assert body["customMessage"] == "m"
    assert body["duration"] == "2m 5s"


def test_an_error_answer_fails_the_task_with_the_url_redacted(server, ctx) -> None:
    server.answers["/hooks/SECRET"] = (404, b"no_service")

    with pytest.raises(TaskFailed) as info:
        SlackIncomingWebhook().run({"url": f"{server.url}/hooks/SECRET", "messageText": "x"}, ctx)

    assert (
        str(info.value) == f"the Slack message to {server.url}/… was refused: HTTP 404: no_service"
    )


def test_the_guard_refuses_loopback_unless_allowed(server, ctx, settings) -> None:
    settings.TRELLIS_HTTP_ALLOW = ""

    with pytest.raises(TaskFailed, match="loopback address") as info:
        SlackIncomingWebhook().run({"url": f"{server.url}/hooks/SECRET", "messageText": "x"}, ctx)

    assert "SECRET" not in str(info.value)
    assert server.requests == []


def test_unreachable_server_fails_without_the_url(ctx) -> None:
    with pytest.raises(TaskFailed) as info:
        SlackIncomingWebhook().run({"url": "http://127.0.0.1:9/hooks/SECRET",
                                    "messageText": "x"}, ctx)  # fmt: skip
    assert "SECRET" not in str(info.value)
    assert "127.0.0.1:9/…" in str(info.value)


def test_payload_that_is_not_json_fails(server, ctx) -> None:
    with pytest.raises(TaskFailed, match="payload is not valid JSON"):
        DiscordIncomingWebhook().run({"url": f"{server.url}/d", "payload": "{oops"}, ctx)
    assert server.requests == []
