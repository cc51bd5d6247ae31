"""Every cell of every table as text: security tests look for a secret in all of them."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection


def every_cell() -> list[tuple[str, str]]:
    """(table, text of one cell) for every non-null cell of every table in the database."""
    cells: list[tuple[str, str]] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                cells.extend((table, cell_text(value)) for value in row if value is not None)
    return cells


def cell_text(value: Any) -> str:
    """A cell as a user would search it: bytes decoded, JSON without escapes."""
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
