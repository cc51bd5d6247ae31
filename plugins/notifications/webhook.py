"""A generic webhook: POST a JSON document (yours, or an execution summary) to any address.

Kestra has no such notification task (its HTTP ``Request`` does the job); Trellis adds one
because an alert to an in-house endpoint wants the same summary the chat tasks send, and
the same care with the URL (never logged whole). No Kestra alias.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kernel.plugin import RunContext
from plugins.notifications.post import OPTIONS, URL, IncomingWebhook
from plugins.notifications.summary import EXECUTION_PROPS, summarize


class WebhookSend(IncomingWebhook):
    """POST ``payload`` (a JSON string or a map) to ``url``; ``options.headers`` adds
    headers (an ``Authorization`` for instance)."""

    type = "trellis.notifications.webhook.WebhookSend"
    what = "webhook call"


class WebhookExecution(IncomingWebhook):
    """POST an execution's summary as JSON: ``execution`` (Kestra-shaped: id, namespace,
    flowId, state, taskRunList), ``link``, ``duration``, ``startDate``, ``lastTask``,
    ``firstFailed`` (false when nothing failed), ``customMessage`` and ``customFields``."""

    type = "trellis.notifications.webhook.WebhookExecution"
    what = "webhook call"
    properties: ClassVar = (URL, OPTIONS, *EXECUTION_PROPS)

    def payload(self, props: dict[str, Any], ctx: RunContext) -> Any:
        return summarize(props, ctx).variables()


PLUGINS = [WebhookSend, WebhookExecution]
