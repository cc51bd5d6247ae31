"""Plain-SQL reads and writes for the few statements every task run makes.

On a task run's tiny statements the ORM costs more than the database: it compiles each query
anew and builds rows through its generic machinery (an ORM claim SELECT took 2.5 ms where the
same SQL took 0.8 ms, bench/README.md). Here each statement's text is built once from the
models' metadata and kept; values go through the fields' own ``get_db_prep_save`` and rows
come back through the same converters the ORM applies, so PostgreSQL and SQLite read and write
exactly what the ORM would. Only the hot path (claim, record, the executor's lock, reads and
inserts) uses this; everything else stays on the ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any, Any], Any]


def table(model: type[Model]) -> str:
    return f'"{model._meta.db_table}"'


@lru_cache(maxsize=256)
def _field(model: type[Model], name: str) -> Field:
    return model._meta.get_field(name)  # type: ignore[return-value]


def select_list(model: type[Model], alias: str, names: Sequence[str]) -> str:
    """``alias."col", ...`` for ``names`` (field names; foreign keys by their ``_id``)."""
    return ", ".join(f'{alias}."{_field(model, n).column}"' for n in names)


@lru_cache(maxsize=64)
def concrete_names(model: type[Model]) -> tuple[str, ...]:
    """Every stored field of ``model``, by attribute name (``execution_id`` for a key)."""
    return tuple(f.attname for f in model._meta.concrete_fields)


@lru_cache(maxsize=256)
def _converters(ops: Any, model: type[Model], names: tuple[str, ...]) -> list[tuple[Any, list]]:
    """Per column: the expression the converters expect and the converters themselves
    (backend first, then the field's), as the ORM's compiler collects them."""
    out = []
    for name in names:
        field = _field(model, name)
        col = field.get_col(model._meta.db_table)
        out.append((col, ops.get_db_converters(col) + field.get_db_converters(connection)))
    return out


def instance(model: type[M], names: tuple[str, ...], values: Sequence[Any]) -> M:
    """A model instance from a row read with ``select_list(model, _, names)``."""
    converted = {}
    for name, value, (col, converters) in zip(
        names, values, _converters(connection.ops, model, names), strict=True
    ):
        for convert in converters:
            value = convert(value, col, connection)
        converted[name] = value
    # from_db takes the values in the model's field order.
    order = [n for n in concrete_names(model) if n in converted]
    return model.from_db(connection.alias, order, [converted[n] for n in order])


def prep(model: type[Model], name: str, value: Any) -> Any:
    """``value`` as the database takes it for field ``name`` (dates, JSON...)."""
    return _field(model, name).get_db_prep_save(value, connection)


@lru_cache(maxsize=256)
def _update_sql(model: type[Model], sets: tuple[str, ...], where: tuple[str, ...]) -> str:
    assignments = ", ".join(f'"{_field(model, n).column}" = %s' for n in sets)
    conditions = " AND ".join(f'"{_field(model, n).column}" = %s' for n in where)
    return f"UPDATE {table(model)} SET {assignments} WHERE {conditions}"


def update(model: type[Model], values: dict[str, Any], **where: Any) -> int:
    """``UPDATE model SET values WHERE field = value AND ...``; the number of rows changed."""
    sql = _update_sql(model, tuple(values), tuple(where))
    params = [prep(model, n, v) for n, v in values.items()]
    params += [prep(model, n, v) for n, v in where.items()]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@lru_cache(maxsize=256)
def _insert_sql(model: type[Model], names: tuple[str, ...], rows: int, returning: str) -> str:
    cols = ", ".join(f'"{_field(model, n).column}"' for n in names)
    one = "(" + ", ".join(["%s"] * len(names)) + ")"
    tail = f' RETURNING "{_field(model, returning).column}"' if returning else ""
    return f"INSERT INTO {table(model)} ({cols}) VALUES {', '.join([one] * rows)}{tail}"


def insert(model: type[Model], names: tuple[str, ...], rows: Iterable[Sequence[Any]],
           returning: str = "") -> list[Any]:  # fmt: skip
    """One INSERT of every row (values in ``names`` order); the ``returning`` column of
    each row, in order, when asked (both backends return multi-row INSERT keys in order)."""
    rows = list(rows)
    fields = [_field(model, n) for n in names]
    # SQLite caps the parameters of one statement: as many statements as that takes.
    size = max(connection.ops.bulk_batch_size(fields, rows), 1)
    keys: list[Any] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            cursor.execute(
                _insert_sql(model, names, len(batch), returning),
                [f.get_db_prep_save(v, connection) for row in batch
                 for f, v in zip(fields, row, strict=True)],
            )  # fmt: skip
            if returning:
                keys += [r[0] for r in cursor.fetchall()]
    return keys
