"""Fixtures for the serdes tasks: a fake run context and helpers to store and read files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kernel import ion
from tests.unit.fake_context import FakeContext


class Files:
    """Puts files in the fake context's storage and reads them back."""

    def __init__(self, ctx: FakeContext) -> None:
        self.ctx = ctx
        self._n = 0

    def put(self, data: str | bytes, name: str) -> str:
        self._n += 1
        local = self.ctx.working_dir / f"in{self._n}-{name}"
        local.write_bytes(data.encode() if isinstance(data, str) else data)
        return self.ctx.put_file(local, local.name)

    def put_rows(self, rows: list, name: str = "rows.ion") -> str:
        out = io.StringIO()
        ion.write_rows(out, rows)
        return self.put(out.getvalue(), name)

    def path(self, uri: str) -> Path:
        return self.ctx.open_uri(uri)

    def text(self, uri: str) -> str:
        return self.path(uri).read_bytes().decode("utf-8")

    def rows(self, uri: str) -> list:
        with self.path(uri).open("rb") as stream:
            return list(ion.read_rows(stream))


@pytest.fixture
def ctx(tmp_path: Path) -> FakeContext:
    return FakeContext(tmp_path)


@pytest.fixture
def files(ctx: FakeContext) -> Files:
    return Files(ctx)
