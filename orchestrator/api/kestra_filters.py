"""Kestra 1.x's search filters (``filters[namespace][EQUALS]=a``) as Trellis's query parameters.

Kestra's clients send every search criterion in that form; Trellis's search views read flat
parameters (``namespace``, ``q``, ``flowId``, ``state``, ``labels``...). The simple, common
filters translate one to one; any other filter is a 400 naming it rather than being ignored,
since a search silently widened would act on (or delete, for by-query actions) too much.
"""

from __future__ import annotations

import re

from django.http import QueryDict

from orchestrator.api.errors import ApiProblem

FILTER = re.compile(
    r"filters\[(?P<field>[^\]]+)\]\[(?P<operation>[^\]]+)\](?:\[(?P<key>[^\]]+)\])?"
)

#: Kestra field -> (Trellis parameter, operations it means).
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "q": ("q", ("EQUALS", "CONTAINS")),
    "query": ("q", ("EQUALS", "CONTAINS")),
    "namespace": ("namespace", ("EQUALS", "PREFIX", "STARTS_WITH")),
    "flowId": ("flowId", ("EQUALS",)),
    "state": ("state", ("EQUALS", "IN")),
    "triggerId": ("triggerId", ("EQUALS",)),
    "startDate": ("startDate", ("GREATER_THAN_OR_EQUAL_TO", "GREATER_THAN")),
    "endDate": ("endDate", ("LESS_THAN_OR_EQUAL_TO", "LESS_THAN")),
    "labels": ("labels", ("EQUALS",)),
}


def translate(query: QueryDict) -> QueryDict | None:
    """``query`` with its Kestra filters rewritten, or None when it holds none."""
    keys = [key for key in query if key.startswith("filters[")]
    if not keys:
        return None
    flat = query.copy()
    for key in keys:
        values = flat.pop(key)
        match = FILTER.fullmatch(key)
        field, operation = (match["field"], match["operation"].upper()) if match else ("", "")
        if field not in FIELDS or operation not in FIELDS[field][1]:
            raise ApiProblem(
                f"the filter {key} is not supported by this server",
                errors=[{"field": key, "message": "supported: " + ", ".join(
                    f"{name}[{'|'.join(ops)}]" for name, (_, ops) in FIELDS.items())}],
            )  # fmt: skip
        name = FIELDS[field][0]
        for value in values:
            if field == "labels":
                flat.appendlist(name, f"{match['key']}:{value}" if match["key"] else value)
            elif operation == "IN":
                for item in value.split(","):
                    flat.appendlist(name, item.strip())
            else:
                flat.appendlist(name, value)
    return flat
