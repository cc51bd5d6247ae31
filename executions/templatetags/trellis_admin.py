"""Template tags of the execution admin: the dashboard panel on the admin index."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def trellis_dashboard(context: dict[str, Any]) -> SafeString:
    """The dashboard panel, rendered with the page (the script then refreshes it)."""
    from executions.admin_dashboard import dashboard_context

    request = context.get("request")
    if request is None or not request.user.has_perm("executions.view_execution"):
        return mark_safe("")
    html = render_to_string(
        "admin/executions/dashboard_panel.html", dashboard_context(), request=request
    )
    return mark_safe(html)  # noqa: S308 - rendered by the template engine (autoescaped)
