"""Kestra's core storage tasks: Write, Size, Concat, Split, Reverse, over a fake run
context's storage (``kestra:///test/<name>``)."""

from __future__ import annotations

import pytest

from kernel.plugin import TaskFailed
from kernel.registry import registry
from kernel.spec.model import SpecError
from kernel.spec.parse import parse_flow
from plugins.core.storage import Concat, Reverse, Size, Split, Write
from tests.unit.fake_context import FakeContext


@pytest.fixture
def ctx(tmp_path) -> FakeContext:
    return FakeContext(tmp_path)


def stored(ctx: FakeContext, uri: str) -> str:
    return ctx.open_uri(uri).read_text()


def test_write_then_size(ctx) -> None:
    written = Write().run({"content": "héllo\n", "extension": "txt"}, ctx)

    assert stored(ctx, written["uri"]) == "héllo\n"
    assert written["size"] == len("héllo\n".encode())
    assert Size().run({"uri": written["uri"]}, ctx) == {"size": written["size"]}


def test_split_by_rows_then_concat_gives_the_file_back(ctx) -> None:
    source = Write().run({"content": "a\nb\nc\nd\ne\n", "extension": ".csv"}, ctx)["uri"]

    parts = Split().run({"from": source, "rows": 2}, ctx)["uris"]

    assert [stored(ctx, u) for u in parts] == ["a\nb\n", "c\nd\n", "e\n"]
    again = Concat().run({"files": parts}, ctx)["uri"]
    assert stored(ctx, again) == "a\nb\nc\nd\ne\n"


def test_split_by_partitions_and_bytes(ctx) -> None:
    source = Write().run({"content": "1\n2\n3\n4\n5\n"}, ctx)["uri"]

    assert len(Split().run({"from": source, "partitions": 2}, ctx)["uris"]) == 2
    assert len(Split().run({"from": source, "bytes": "4B"}, ctx)["uris"]) == 3


def test_concat_takes_a_json_list_and_a_separator(ctx) -> None:
    a = Write().run({"content": "x"}, ctx)["uri"]
    b = Write().run({"content": "y", "extension": ".txt"}, ctx)["uri"]

    joined = Concat().run({"files": f'["{a}", "{b}"]', "separator": "|"}, ctx)["uri"]

    assert stored(ctx, joined) == "x|y"


def test_reverse_keeps_every_line(ctx) -> None:
    source = Write().run({"content": "1\n2\n3"}, ctx)["uri"]

    assert stored(ctx, Reverse().run({"from": source}, ctx)["uri"]) == "3\n2\n1\n"


@pytest.mark.parametrize(
    ("task", "props", "message"),
    [
        (Size, {"uri": "/etc/passwd"}, "must be an internal storage URI"),
        (Size, {"uri": "kestra:///test/missing"}, "no file at"),
        (Concat, {"files": []}, "non-empty list"),
        (Write, {"content": "x", "extension": "../../x"}, "is not a file extension"),
    ],
)
def test_bad_input_fails_the_task_with_a_clear_message(ctx, task, props, message) -> None:
    with pytest.raises(TaskFailed, match=message):
        task().run(props, ctx)


def test_split_needs_exactly_one_way_to_split() -> None:
    source = (
        "id: s\nnamespace: a\ntasks:\n  - id: split\n"
        "    type: io.kestra.plugin.core.storage.Split\n    from: kestra:///x\n"
        "    rows: 1\n    partitions: 2\n"
    )
    with pytest.raises(SpecError, match="give exactly one of rows, bytes and partitions"):
        parse_flow(source)


@pytest.mark.parametrize(
    "name",
    ["io.kestra.plugin.core.storage.Concat", "io.kestra.core.tasks.storages.Concat",
     "io.kestra.plugin.core.storage.Split", "io.kestra.core.tasks.storages.Size",
     "io.kestra.plugin.core.storage.Write", "io.kestra.plugin.core.storage.Reverse"],
)  # fmt: skip
def test_kestra_names(name) -> None:
    assert registry.get(name).type.startswith("trellis.core.storage.")
