"""What every API view shares: authentication, permissions, the error shape, body limits.

Set on a base class rather than only in ``REST_FRAMEWORK`` so the API behaves the same
whatever the project settings say (the settings may point at the same classes).
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import authentication, parsers, permissions
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView

from orchestrator.api.auth import ApiTokenAuthentication
from orchestrator.api.errors import ApiProblem, PayloadTooLarge, exception_handler

YAML_MEDIA_TYPES = ("application/x-yaml", "application/yaml", "text/yaml", "text/plain")


class YamlSourceParser(parsers.BaseParser):
    """A YAML document body, returned as text (validation is the spec parser's job).

    The raw text is kept byte for byte: a flow's source is stored exactly as sent.
    """

    media_type = "application/x-yaml"

    def parse(self, stream, media_type=None, parser_context=None) -> str:
        limit = settings.TRELLIS_MAX_FLOW_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:  # a body sent without Content-Length (chunked)
            raise PayloadTooLarge(None, limit)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiProblem(f"the body is not UTF-8 text: {exc}", status_code=400) from exc


def _yaml_parser(media: str) -> type[YamlSourceParser]:
    return type(
        f"YamlParser_{media.replace('/', '_').replace('-', '_')}",
        (YamlSourceParser,),
        {"media_type": media},
    )


YAML_PARSERS: list[type[parsers.BaseParser]] = [_yaml_parser(m) for m in YAML_MEDIA_TYPES]


def check_body_size(request, limit: int) -> None:
    """413 before reading a body larger than ``limit`` (Content-Length, then actual size)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise PayloadTooLarge(declared, limit)


class ApiView(APIView):
    authentication_classes = [ApiTokenAuthentication, authentication.SessionAuthentication]
    permission_classes = [permissions.IsAuthenticated]

    def get_exception_handler(self):
        return exception_handler


class YamlBodyView(ApiView):
    """A view whose unsafe methods take one YAML text body (limited to TRELLIS_MAX_FLOW_BYTES)."""

    parser_classes = YAML_PARSERS

    def yaml_body(self, request) -> str:
        limit = settings.TRELLIS_MAX_FLOW_BYTES
        check_body_size(request, limit)
        body = request.data
        if not isinstance(body, str) and not body:
            body = ""  # DRF parses no parser at all for an empty body
        if not isinstance(body, str):
            raise ApiProblem("expected a YAML document body", status_code=415)
        size = len(body.encode("utf-8"))
        if size > limit:
            raise PayloadTooLarge(size, limit)
        if not body.strip():
            raise ApiProblem(
                "the body is empty: send a YAML document", status_code=422, code="invalid-document"
            )
        return body


class NotFoundView(ApiView):
    """Any unknown path under /api/v1/: a 404 in the error shape (after authentication)."""

    schema = None  # not an endpoint of the documented API

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise NotFound(f"no API endpoint at {request.path}")
