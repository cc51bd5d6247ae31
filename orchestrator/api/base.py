"""What every API view shares: authentication, permissions, the error shape, body limits.

Set on a base class rather than only in ``REST_FRAMEWORK`` so the API behaves the same
whatever the project settings say (the settings may point at the same classes).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http.request import RawPostDataException
from rest_framework import authentication, negotiation, parsers, permissions
from rest_framework.exceptions import NotAcceptable, NotFound
from rest_framework.views import APIView

from orchestrator.api.auth import ApiTokenAuthentication
from orchestrator.api.errors import ApiProblem, PayloadTooLarge, exception_handler
from orchestrator.api.parsers import DEFAULT_PARSERS

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
    except (TypeError, ValueError):
        declared = 0
    if declared > limit:
        raise PayloadTooLarge(declared, limit)


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _nul_problem(field: str) -> ApiProblem:
    return ApiProblem(
        "NUL characters are not accepted",
        errors=[{"field": field.replace("\x00", "\\0"), "message": "contains a NUL character"}],
    )


def refuse_nul(request, path_params: dict | None = None) -> None:
    """400 for a NUL character in a path or query parameter or in a text body.

    PostgreSQL can neither store nor compare text holding NUL (psycopg raises, which would be
    a 500), so it is refused at the edge whatever the database. Files may hold anything.
    """
    for key, value in (path_params or {}).items():
        if isinstance(value, str) and "\x00" in value:
            raise _nul_problem(key)
    for key, values in request.query_params.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            raise _nul_problem(key)
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if not request.META.get("CONTENT_LENGTH"):
        return
    if content_type in FORM_TYPES:
        data = request.data
        if hasattr(data, "lists"):
            for key, values in data.lists():
                texts = [v for v in values if isinstance(v, str)]
                if "\x00" in key or any("\x00" in v for v in texts):
                    raise _nul_problem(key)
        return
    body = _body_bytes(request)
    if b"\x00" in body or (content_type.endswith("json") and b"\\u0000" in body):
        raise _nul_problem("body")


def _body_bytes(request) -> bytes:
    """The raw body, or the parsed body again when a parser already consumed the stream.

    With session authentication DRF's CSRF check reads ``request.POST``, which parses the
    body before :func:`refuse_nul` runs: the admin's flow editor POSTs YAML that way.
    """
    try:
        return request.body
    except RawPostDataException:
        data = request.data
        if isinstance(data, str):
            return data.encode("utf-8")
        return json.dumps(data, default=str).encode("utf-8")


#: Room for the multipart envelope (boundaries, part headers, small fields) around a file.
MULTIPART_SLACK_BYTES = 64 * 1024


class LenientNegotiation(negotiation.DefaultContentNegotiation):
    """A JSON answer rather than a 406 when the client's Accept names no renderer.

    Download views answer with their own bytes whatever Accept says, but DRF negotiates
    before the view runs: Kestra's clients send ``Accept: application/octet-stream`` (or
    ``text/plain``) for downloads, which would otherwise be refused up front.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type


class ApiView(APIView):
    """Authenticated JSON views with one error shape and a cap on the request body.

    The cap is checked on ``Content-Length`` once the user is authenticated (401 before 413).
    By default a multipart body (files) may reach ``TRELLIS_MAX_UPLOAD_BYTES`` plus the
    envelope, any other body Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``: DRF's JSON parser
    reads the stream itself, so Django's own limit would never apply to it. A view sets
    ``body_limit_setting`` to name another setting (YAML views: ``TRELLIS_MAX_FLOW_BYTES``).
    """

    #: Basic auth (a Trellis user's name and password) is what Kestra's clients send when
    #: given a username and password (kestrapy, terraform); a token is the usual way.
    authentication_classes = [
        ApiTokenAuthentication,
        authentication.BasicAuthentication,
        authentication.SessionAuthentication,
    ]
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = DEFAULT_PARSERS
    content_negotiation_class = LenientNegotiation
    body_limit_setting: str | None = None

    def get_exception_handler(self):
        return exception_handler

    def body_limit(self, request) -> int | None:
        if self.body_limit_setting:
            return getattr(settings, self.body_limit_setting)
        if (request.content_type or "").startswith("multipart/"):
            return settings.TRELLIS_MAX_UPLOAD_BYTES + MULTIPART_SLACK_BYTES
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        limit = self.body_limit(request)
        if limit:
            check_body_size(request, limit)
        refuse_nul(request, kwargs)


class YamlBodyView(ApiView):
    """A view whose unsafe methods take one YAML text body (limited to TRELLIS_MAX_FLOW_BYTES)."""

    parser_classes = YAML_PARSERS
    body_limit_setting = "TRELLIS_MAX_FLOW_BYTES"

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
