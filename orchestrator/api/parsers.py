"""DRF's JSON parser with Trellis's nesting limit (issue 21).

``json.load`` recurses once per level: a 100k-deep body made DRF's parser raise
``RecursionError``, which it does not catch (only ValueError), so any JSON endpoint answered
500. This parser measures the text first (``kernel.depth``) and refuses a body nested deeper
than ``MAX_DEPTH`` with a 422 naming the path, before anything parses it.
"""

from __future__ import annotations

import io

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from kernel.depth import TooDeep, check_json_depth


def too_deep_problem(exc: TooDeep, *, field: str = "body") -> Exception:
    """The 422 for a document nested deeper than the limit, naming where (an ApiProblem)."""
    # Imported here: DRF imports this module while ``orchestrator.api.errors`` (which
    # imports DRF's views) may still be loading.
    from orchestrator.api.errors import ApiProblem

    where = f"{field}{'' if exc.where.startswith('[') else '.'}{exc.where}" if exc.path else field
    return ApiProblem(
        f"the {field} is {exc.reason} at {where}",
        status_code=422,
        code="too-deep",
        errors=[{"field": where, "message": exc.reason}],
    )


class JSONParser(parsers.JSONParser):
    """``application/json`` bodies, refused with 422 past the nesting limit."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        data = stream.read() if stream is not None else b""
        try:
            check_json_depth(data.decode(encoding))
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except TooDeep as exc:
            raise too_deep_problem(exc) from None
        return super().parse(io.BytesIO(data), media_type, parser_context)


#: What every API view parses unless it says otherwise (DRF's defaults, this JSON parser).
DEFAULT_PARSERS: list[type[parsers.BaseParser]] = [
    JSONParser,
    parsers.FormParser,
    parsers.MultiPartParser,
]
