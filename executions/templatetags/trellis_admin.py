"""Template tags of the execution admin: the dashboard panel on the admin index, and the
one date format of every admin page (``when``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from executions.admin.dashboard import dashboard_context

register = template.Library()


@register.simple_tag(takes_context=True)
def trellis_dashboard(context: dict[str, Any]) -> SafeString:
    """The dashboard panel, rendered with the page (the script then refreshes it)."""

    request = context.get("request")
    if request is None or not request.user.has_perm("executions.view_execution"):
        return mark_safe("")
    html = render_to_string(
        "admin/executions/dashboard_panel.html", dashboard_context(), request=request
    )
    return mark_safe(html)  # noqa: S308 - rendered by the template engine (autoescaped)


@register.filter
def when(value: datetime | None) -> str:
    """A moment the same way on every page (issue 20): ISO 8601 ``YYYY-MM-DD HH:MM:SS`` and
    the zone, in a ``<time>`` element that admin.js rewrites in the browser's time zone (the
    server's zone is what a page without JavaScript shows)."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return format_html(
        '<time class="trellis-time" datetime="{}">{}\u00a0{}</time>',
        value.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S"),
        local.strftime("%Z") or local.strftime("%z"),
    )
