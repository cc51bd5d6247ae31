"""``ChatCompletion``: one call to an OpenAI-compatible ``/chat/completions`` endpoint.

Plain HTTP, no client library: the request goes through the HTTP task's guarded opener
(:func:`plugins.http.request.exchange`), so the same SSRF policy applies (a model server on
the operator's network must be named in ``TRELLIS_HTTP_ALLOW``). The base URL is the
``baseUrl`` property, else the ``TRELLIS_OPENAI_BASE_URL`` setting, else OpenAI's own; any
server speaking the same API (vLLM, Ollama, LiteLLM, Azure's compatible endpoint...) works.

Outputs are named as Kestra names them: ``id``, ``object``, ``model``, ``choices`` (each
``{index, message: {role, content, function_call?}, finish_reason}``) and ``usage``
(``prompt_tokens``, ``completion_tokens``, ``total_tokens``). As in Kestra, a function call's
``arguments`` (a JSON text in the API) are parsed into a map, so
``outputs.t.choices[0].message.function_call.arguments.x`` works. The API key is never
logged; an error body is quoted with it masked.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Mapping
from typing import Any, ClassVar

from kernel import config
from kernel.plugin import Output, Prop, RunContext, RunnableTask, TaskFailed
from kernel.secrets import MASK
from plugins.http.request import exchange

DEFAULT_BASE_URL = "https://api.openai.com/v1"
BASE_URL_SETTING = "TRELLIS_OPENAI_BASE_URL"
ROLES = ("system", "user", "assistant", "function", "tool", "developer")
#: Kestra property -> API field, for the plain sampling parameters.
PARAMETERS = {
    "temperature": "temperature",
    "topP": "top_p",
    "n": "n",
    "stop": "stop",
    "maxTokens": "max_tokens",
    "presencePenalty": "presence_penalty",
    "frequencyPenalty": "frequency_penalty",
    "logitBias": "logit_bias",
    "user": "user",
}
NUMBERS = {"temperature", "topP", "presencePenalty", "frequencyPenalty"}
INTEGERS = {"n", "maxTokens"}


def _setting(name: str) -> str:
    return str(config.setting(name, "") or "")


def base_url(props: Mapping[str, Any]) -> str:
    url = str(props.get("baseUrl") or _setting(BASE_URL_SETTING) or DEFAULT_BASE_URL)
    return url.rstrip("/")


def function_schema(function: Mapping[str, Any]) -> dict[str, Any]:
    """Kestra's function declaration (``parameters`` as a list of named parameters) as the
    API's JSON schema; a ``parameters`` already in JSON-schema form passes as it is."""
    params = function.get("parameters")
    if isinstance(params, Mapping):
        schema: dict[str, Any] = dict(params)
    else:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for param in params or ():
            name = str(param.get("name"))
            prop: dict[str, Any] = {"type": str(param.get("type") or "string")}
            if param.get("description"):
                prop["description"] = str(param["description"])
            if param.get("enumValues"):
                prop["enum"] = [str(v) for v in param["enumValues"]]
            properties[name] = prop
            if str(param.get("required")).lower() == "true":
                required.append(name)
        schema = {"type": "object", "properties": properties, "required": required}
    declared = {"name": str(function.get("name") or ""), "parameters": schema}
    if function.get("description"):
        declared["description"] = str(function["description"])
    return declared


def _number(name: str, value: Any) -> Any:
    try:
        if name in INTEGERS:
            return int(value)
        if name in NUMBERS:
            return float(value)
    except (TypeError, ValueError):
        raise TaskFailed(f"{name} must be a number, not {value!r}") from None
    return value


def request_body(props: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for the task's properties."""
    messages: list[dict[str, Any]] = []
    for message in props.get("messages") or ():
        if not isinstance(message, Mapping):
            raise TaskFailed("messages must be a list of {role, content} maps")
        messages.append({k: v for k, v in message.items() if v is not None})
    if props.get("prompt") not in (None, ""):
        messages.append({"role": "user", "content": str(props["prompt"])})
    if not messages:
        raise TaskFailed("Either `messages` or `prompt` must be set")
    body: dict[str, Any] = {"model": str(props.get("model") or ""), "messages": messages}
    for prop, field in PARAMETERS.items():
        if props.get(prop) is not None:
            body[field] = _number(prop, props[prop])
    if props.get("functions"):
        body["functions"] = [function_schema(f) for f in props["functions"]]
        call = props.get("functionCall")
        if call:
            body["function_call"] = call if call in ("auto", "none") else {"name": str(call)}
    return body


def parse_function_calls(choices: Any) -> Any:
    """Kestra hands ``function_call.arguments`` over as a map (the API sends JSON text)."""
    for choice in choices if isinstance(choices, list) else ():
        call = (
            (choice.get("message") or {}).get("function_call") if isinstance(choice, dict) else None
        )
        if isinstance(call, dict) and isinstance(call.get("arguments"), str):
            with contextlib.suppress(ValueError):  # else left as the model wrote it
                call["arguments"] = json.loads(call["arguments"])
    return choices


class ChatCompletion(RunnableTask):
    """Ask an OpenAI-compatible model for a chat completion."""

    type = "trellis.openai.ChatCompletion"
    aliases = ("io.kestra.plugin.openai.ChatCompletion",)
    properties: ClassVar = (
        Prop("apiKey", "string", required=True, description="The API key (a secret)."),
        Prop("model", "string", required=True, description="The model, e.g. `gpt-4o`."),
        Prop("messages", "list", description="The conversation: `{role, content}` maps."),
        Prop("prompt", "string", description="Sent as a last `user` message."),
        Prop("functions", "list", description="Functions the model may call (Kestra's form)."),
        Prop("functionCall", "string", description="`auto`, `none` or a function's name."),
        Prop("temperature", "number"),
        Prop("topP", "number"),
        Prop("n", "integer"),
        Prop("stop", "list", items="string"),
        Prop("maxTokens", "integer"),
        Prop("presencePenalty", "number"),
        Prop("frequencyPenalty", "number"),
        Prop("logitBias", "map"),
        Prop("user", "string"),
        Prop("clientTimeout", "integer", default=10, description="Seconds to wait."),
        Prop(
            "baseUrl",
            "string",
            description="Root of an OpenAI-compatible API (default: TRELLIS_OPENAI_BASE_URL, "
            "else https://api.openai.com/v1).",
        ),
    )
    examples = (
        """id: openai_chat
namespace: trellis.examples
inputs:
  - id: prompt
    type: STRING
    defaults: What is data orchestration?
tasks:
  - id: completion
    type: io.kestra.plugin.openai.ChatCompletion
    apiKey: "{{ secret('OPENAI_API_KEY') }}"
    model: gpt-4o
    prompt: "{{ inputs.prompt }}"
  - id: answer
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.completion.choices[0].message.content }}"
""",
    )

    outputs: ClassVar = (
        Output("id", "The completion's id.", "string"),
        Output("object", "The answer's object type.", "string"),
        Output("model", "The model that answered.", "string"),
        Output("choices", "The choices, function-call arguments parsed.", "list"),
        Output("usage", "Token counts.", "map"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = []
        if props.get("messages") is None and props.get("prompt") is None:
            problems.append(("prompt", "either `messages` or `prompt` must be set"))
        for i, message in enumerate(props.get("messages") or ()):
            if isinstance(props.get("messages"), str):
                break
            role = message.get("role") if isinstance(message, Mapping) else None
            if role is not None and "{{" not in str(role) and str(role) not in ROLES:
                problems.append((f"messages[{i}].role", f"must be one of {', '.join(ROLES)}"))
        return problems

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        body = request_body(props)
        url = base_url(props) + "/chat/completions"
        key = str(props.get("apiKey") or "")
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        request.add_header("Authorization", f"Bearer {key}")
        timeout = props.get("clientTimeout") or 10
        ctx.logger.debug(f"chat completion with {body['model']} at {url}")
        code, _headers, raw = exchange(request, {"readTimeout": f"PT{int(timeout)}S"}, {})
        text = raw.decode("utf-8", errors="replace")
        if key:
            text = text.replace(key, MASK)
        if code >= 400:
            raise TaskFailed(f"chat completion failed: HTTP {code} from {url}: {text[:500]}")
        try:
            answer = json.loads(text)
        except ValueError:
            raise TaskFailed(f"chat completion: {url} did not answer JSON: {text[:200]}") from None
        if not isinstance(answer, dict):
            raise TaskFailed(f"chat completion: unexpected answer from {url}: {text[:200]}")
        usage = answer.get("usage") or {}
        ctx.logger.info(
            f"chat completion: {len(answer.get('choices') or [])} choice(s), "
            f"{usage.get('total_tokens', '?')} tokens"
        )
        return {
            "id": answer.get("id"),
            "object": answer.get("object"),
            "model": answer.get("model"),
            "choices": parse_function_calls(answer.get("choices") or []),
            "usage": usage,
        }


PLUGINS = [ChatCompletion]
