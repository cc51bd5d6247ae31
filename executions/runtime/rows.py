"""Plain-SQL reads and writes for the few statements every task run makes.

On a task run's tiny statements the ORM costs more than the database: it compiles each query
anew and builds rows through its generic machinery (an ORM claim SELECT took 2.5 ms where the
same SQL took 0.8 ms, bench/README.md). Here each statement's text is built once from the
models' metadata and kept; values go through the fields' own ``get_db_prep_save`` and rows
come back through the same converters the ORM applies, so PostgreSQL and SQLite read and write
exactly what the ORM would. Only the hot path (claim, record, the executor's lock, reads and
inserts) uses this; everything else stays on the ORM.

Inside ``batched()`` on PostgreSQL, a write whose result nobody reads (an insert whose keys
are known, an update whose row count is ignored) is not sent at once: it travels with the
next statement of this module in the same round trip (psycopg2 sends several statements in
one string and returns the last one's result), or at the block's end. Only statements made
through this module may run inside the block: any other read would not see those writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from django.db import connection
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)


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
def _columns(model: type[Model], names: tuple[str, ...]) -> list[tuple[Field, Any]]:
    return [(f, f.get_col(model._meta.db_table)) for f in (_field(model, n) for n in names)]


#: Per connection (its ``ops``, one per thread): the converters of each column list.
_converter_cache: WeakKeyDictionary[Any, dict[tuple, list]] = WeakKeyDictionary()


def _converters(model: type[Model], names: tuple[str, ...]) -> list[tuple[Any, list]]:
    """Per column: the expression the converters expect and the converters themselves
    (backend first, then the field's), as the ORM's compiler collects them. Kept per
    connection, as the backend's are bound to it."""
    ops = connection.ops
    kept = _converter_cache.setdefault(ops, {})
    key = (model, names)
    if key not in kept:
        kept[key] = [
            (col, ops.get_db_converters(col) + field.get_db_converters(connection))
            for field, col in _columns(model, names)
        ]
    return kept[key]


def _converted(value: Any, col: Any, converters: list) -> Any:
    for convert in converters:
        value = convert(value, col, connection)
    return value


def instance(model: type[M], values: Sequence[Any]) -> M:
    """A model instance from a row read with ``select_list(model, _, concrete_names(model))``."""
    names = concrete_names(model)
    converted = [
        _converted(value, col, converters)
        for value, (col, converters) in zip(values, _converters(model, names), strict=True)
    ]
    return model.from_db(connection.alias, list(names), converted)


def prep(model: type[Model], name: str, value: Any) -> Any:
    """``value`` as the database takes it for field ``name`` (dates, JSON...)."""
    return _field(model, name).get_db_prep_save(value, connection)


@lru_cache(maxsize=256)
def _update_sql(model: type[Model], sets: tuple[str, ...], where: tuple[str, ...]) -> str:
    assignments = ", ".join(f'"{_field(model, n).column}" = %s' for n in sets)
    conditions = " AND ".join(f'"{_field(model, n).column}" = %s' for n in where)
    return f"UPDATE {table(model)} SET {assignments} WHERE {conditions}"


_pending = threading.local()


@contextmanager
def batched() -> Iterator[None]:
    """Writes without a result wait for the next statement or the block's end (PostgreSQL;
    elsewhere, and inside an outer block, nothing changes). On an error the waiting writes
    are dropped: the caller's transaction is rolled back anyway."""
    if connection.vendor != "postgresql" or getattr(_pending, "items", None) is not None:
        yield
        return
    _pending.items = []
    try:
        yield
        flush()
    finally:
        _pending.items = None


def flush() -> None:
    """Send the writes waiting in ``batched()`` now (before a statement of another module)."""
    items = getattr(_pending, "items", None)
    if items:
        with connection.cursor() as cursor:
            _execute(cursor, "", [])


def _execute(cursor: Any, sql: str, params: Sequence[Any], *, result: bool = True) -> None:
    """Run ``sql``, preceded by the writes waiting in ``batched()``; or, when nothing reads
    its result (``result=False``) inside the block, make it wait too."""
    items = getattr(_pending, "items", None)
    if items is None:
        cursor.execute(sql, params)
        return
    if not result:
        items.append((sql, list(params)))
        return
    if items:
        texts = [text for text, _ in items] + ([sql] if sql else [])
        params = [p for _, values in items for p in values] + list(params)
        items.clear()
        sql = "; ".join(texts)
    cursor.execute(sql, params)


def update(
    model: type[Model], values: dict[str, Any], *, counted: bool = True, **where: Any
) -> int:
    """``UPDATE model SET values WHERE field = value AND ...``; the number of rows changed
    (-1 when not ``counted``: inside ``batched()`` it may then wait for the next statement)."""
    sql = _update_sql(model, tuple(values), tuple(where))
    params = [prep(model, n, v) for n, v in values.items()]
    params += [prep(model, n, v) for n, v in where.items()]
    with connection.cursor() as cursor:
        _execute(cursor, sql, params, result=counted)
        return cursor.rowcount if counted else -1


@lru_cache(maxsize=256)
def _insert_sql(model: type[Model], names: tuple[str, ...], rows: int, returning: str) -> str:
    cols = ", ".join(f'"{_field(model, n).column}"' for n in names)
    one = "(" + ", ".join(["%s"] * len(names)) + ")"
    tail = f' RETURNING "{_field(model, returning).column}"' if returning else ""
    return f"INSERT INTO {table(model)} ({cols}) VALUES {', '.join([one] * rows)}{tail}"


def _params(fields: Sequence[Field], rows: Iterable[Sequence[Any]]) -> list[Any]:
    return [f.get_db_prep_save(v, connection) for row in rows
            for f, v in zip(fields, row, strict=True)]  # fmt: skip


def insert(model: type[Model], names: tuple[str, ...], rows: Iterable[Sequence[Any]],
           returning: str = "") -> list[Any]:  # fmt: skip
    """One INSERT of every row (values in ``names`` order); the ``returning`` column of
    each row, in order, when asked (both backends return multi-row INSERT keys in order).
    Where the database has no RETURNING (SQLite before 3.35), rows go one by one and the
    auto-increment key asked for is read from ``lastrowid``."""
    rows = list(rows)
    fields = [_field(model, n) for n in names]
    keys: list[Any] = []
    with connection.cursor() as cursor:
        if returning and not connection.features.can_return_columns_from_insert:
            for row in rows:
                cursor.execute(_insert_sql(model, names, 1, ""), _params(fields, [row]))
                keys.append(cursor.lastrowid)
            return keys
        # SQLite caps the parameters of one statement: as many statements as that takes.
        size = max(connection.ops.bulk_batch_size(fields, rows), 1)
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            sql = _insert_sql(model, names, len(batch), returning)
            _execute(cursor, sql, _params(fields, batch), result=bool(returning))
            if returning:
                keys += [r[0] for r in cursor.fetchall()]
    return keys


def reader(model: type[Model], name: str) -> Callable[[Any], Any] | None:
    """What turns column ``name`` as read into the field's value (SQLite's dates are text),
    or None when the driver's value is already it."""
    col, converters = _converters(model, (name,))[0]
    if not converters:
        return None

    return lambda value: _converted(value, col, converters)


@lru_cache(maxsize=64)
def _get_sql(model: type[Model], lock: bool, skip_locked: bool = False) -> str:
    names = concrete_names(model)
    tail = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    if tail and skip_locked and connection.features.has_select_for_update_skip_locked:
        tail += " SKIP LOCKED"
    pk = model._meta.pk.column
    return (
        f'SELECT {select_list(model, "t", names)} FROM {table(model)} t WHERE t."{pk}" = %s{tail}'
    )


def get(model: type[M], pk: Any, *, lock: bool = False, skip_locked: bool = False) -> M | None:
    """The row with primary key ``pk`` as an instance, or None; ``lock``: FOR UPDATE
    (inside the caller's transaction; SQLite's BEGIN IMMEDIATE already holds the database),
    ``skip_locked`` too: None at once when another transaction holds the row."""
    with connection.cursor() as cursor:
        _execute(cursor, _get_sql(model, lock, skip_locked), [pk])
        row = cursor.fetchone()
    return None if row is None else instance(model, row)


def save_fields(obj: Model, names: Sequence[str], *, counted: bool = True) -> int:
    """``obj.save(update_fields=names)`` without the ORM (``auto_now`` fields included)."""
    model = type(obj)
    values = {n: _field(model, n).pre_save(obj, False) for n in names}
    return update(model, values, counted=counted, **{model._meta.pk.attname: obj.pk})


def create(objs: Sequence[Model]) -> None:
    """Insert new instances of one model in one statement (``auto_now_add`` fields set); an
    auto-increment key is read back into each."""
    if not objs:
        return
    model = type(objs[0])
    pk = model._meta.pk
    auto = pk.attname if getattr(objs[0], pk.attname) is None else ""
    names = tuple(n for n in concrete_names(model) if n != auto)
    fields = [_field(model, n) for n in names]
    keys = insert(model, names, [[f.pre_save(obj, True) for f in fields] for obj in objs], auto)
    for obj, key in zip(objs, keys, strict=False):  # keys only for an auto-increment key
        setattr(obj, auto, key)
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias
