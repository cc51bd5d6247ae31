"""ChatCompletion against a local HTTP server of the test's own that answers like OpenAI's
``/v1/chat/completions``; the request is checked field by field."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kernel.plugin import TaskFailed
from kernel.registry import registry
from kernel.secrets import MASK
from plugins.openai.chat import ChatCompletion, function_schema
from tests.unit.fake_context import FakeContext

KEY = "sk-test-0123456789"
ANSWER = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Orchestration coordinates tasks."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
}


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status, self.answer = 200, ANSWER
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                fake.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw)}
                )
                data = json.dumps(fake.answer).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def api(settings) -> Iterator[FakeOpenAI]:  # noqa: ANN001
    settings.TRELLIS_HTTP_ALLOW = "loopback"  # the guard refuses loopback by default
    fake = FakeOpenAI()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def ctx(tmp_path: Path) -> FakeContext:
    return FakeContext(tmp_path, secrets=[KEY])


def test_kestra_name_resolves() -> None:
    assert registry.get("io.kestra.plugin.openai.ChatCompletion") is ChatCompletion


def test_a_prompt_is_sent_as_a_user_message_and_outputs_are_named_as_kestra(api, ctx) -> None:
    out = ChatCompletion().run(
        {
            "apiKey": KEY,
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "Be brief."}],
            "prompt": "What is data orchestration?",
            "temperature": "0.2",
            "maxTokens": 50,
            "stop": ["\n\n"],
            "baseUrl": api.url + "/",
        },
        ctx,
    )
    [request] = api.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["body"] == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is data orchestration?"},
        ],
        "temperature": 0.2,
        "max_tokens": 50,
        "stop": ["\n\n"],
    }
    assert out == {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": ANSWER["choices"],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }
    assert not any(KEY in m for m in ctx.logger.lines())


def test_the_base_url_setting_is_used_without_the_property(api, ctx, settings) -> None:
    settings.TRELLIS_OPENAI_BASE_URL = api.url
    ChatCompletion().run({"apiKey": KEY, "model": "m", "prompt": "hi"}, ctx)
    assert len(api.requests) == 1


def test_function_calls_are_declared_and_their_arguments_parsed(api, ctx) -> None:
    api.answer = {
        **ANSWER,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "function_call": {
                        "name": "respond",
                        "arguments": '{"urgency": "reply_later"}',
                    },
                },
                "finish_reason": "function_call",
            }
        ],
    }
    out = ChatCompletion().run(
        {
            "apiKey": KEY,
            "model": "gpt-4o",
            "prompt": "I love it",
            "baseUrl": api.url,
            "functions": [
                {
                    "name": "respond",
                    "description": "Decide urgency",
                    "parameters": [
                        {
                            "name": "urgency",
                            "type": "string",
                            "description": "How urgent",
                            "required": True,
                            "enumValues": ["reply_now", "reply_later"],
                        }
                    ],
                }
            ],
            "functionCall": "respond",
        },
        ctx,
    )
    body = api.requests[0]["body"]
    assert body["functions"] == [
        {
            "name": "respond",
            "description": "Decide urgency",
            "parameters": {
                "type": "object",
                "properties": {
                    "urgency": {
                        "type": "string",
                        "description": "How urgent",
                        "enum": ["reply_now", "reply_later"],
                    }
                },
                "required": ["urgency"],
            },
        }
    ]
    assert body["function_call"] == {"name": "respond"}
    call = out["choices"][0]["message"]["function_call"]
    assert call["arguments"] == {"urgency": "reply_later"}


def test_an_api_error_fails_the_run_with_the_key_masked(api, ctx) -> None:
    api.status = 401
    api.answer = {"error": {"message": f"Incorrect API key provided: {KEY}"}}
    with pytest.raises(TaskFailed) as info:
        ChatCompletion().run({"apiKey": KEY, "model": "m", "prompt": "x", "baseUrl": api.url}, ctx)
    assert "HTTP 401" in str(info.value)
    assert "Incorrect API key" in str(info.value)
    assert KEY not in str(info.value)
    assert MASK in str(info.value)


def test_the_outbound_guard_applies(ctx, settings) -> None:
    settings.TRELLIS_HTTP_ALLOW = ""
    with pytest.raises(TaskFailed, match="loopback"):
        ChatCompletion().run(
            {"apiKey": KEY, "model": "m", "prompt": "x", "baseUrl": "http://127.0.0.1:9/v1"}, ctx
        )


def test_messages_or_prompt_are_required_at_deploy() -> None:
    assert ChatCompletion.validate({"apiKey": "k", "model": "m"}) == [
        ("prompt", "either `messages` or `prompt` must be set")
    ]
    problems = ChatCompletion.validate(
        {"apiKey": "k", "model": "m", "messages": [{"role": "robot", "content": "x"}]}
    )
    assert problems[0][0] == "messages[0].role"


def test_a_json_schema_parameters_map_passes_unchanged() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert function_schema({"name": "f", "parameters": schema})["parameters"] == schema
