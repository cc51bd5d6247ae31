"""Reads of templates, for the Template task and the API."""

from __future__ import annotations

from functools import lru_cache

from kernel.spec import parse as spec_module
from kernel.spec.model import FlowSpec
from templates.models import Template


def template_get(namespace: str, template_id: str) -> Template:
    """The template ``namespace``/``template_id``. Raises ``Template.DoesNotExist``."""
    return Template.objects.select_related("namespace").get(
        namespace__name=namespace, template_id=template_id
    )


def template_spec(template: Template) -> FlowSpec:
    """The parsed template (its ``tasks`` and ``errors`` as TaskSpecs), cached per source."""
    return _parse_cached(template.pk, template.revision, template.source, str(template))


@lru_cache(maxsize=256)
def _parse_cached(pk: int, revision: int, source: str, filename: str) -> FlowSpec:
    return spec_module.parse_flow(source, filename=filename)
