"""ForEachItem: batches, and the three internal tasks it brings into the flow (issue 8)."""

from __future__ import annotations

import pytest

from kernel.plugin import TaskFailed
from kernel.spec.model import SpecError
from kernel.spec.parse import parse_flow
from plugins.core.flow.for_each_item import (
    ForEachItemMerge,
    ForEachItemSplit,
    cut_items,
    split_items,
)
from tests.unit.fake_context import FakeContext

FLOW = """
id: fei
namespace: a
inputs:
  - id: file
    type: FILE
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEachItem
    items: "{{ inputs.file }}"
    batch:
      rows: 4
    namespace: a
    flowId: child
    inputs:
      items: "{{ taskrun.items }}"
"""


def test_the_flow_gets_split_items_and_merge_tasks_under_forEachItem() -> None:
    each = parse_flow(FLOW).tasks[0]

    assert [(t.id, t.raw_type) for t in each.children["tasks"]] == [
        ("each_split", "io.kestra.plugin.core.flow.ForEachItem$ForEachItemSplit"),
        ("each_items", "io.kestra.plugin.core.flow.ForEachItem$ForEachItemExecutable"),
        ("each_merge", "io.kestra.plugin.core.flow.ForEachItem$ForEachItemMergeOutputs"),
    ]
    split, items, _ = each.children["tasks"]
    assert split.properties == {"items": "{{ inputs.file }}", "batch": {"rows": 4}}
    assert items.properties["inputs"] == {"items": "{{ taskrun.items }}"}
    assert items.properties["splitTaskId"] == "each_split"


def test_an_id_the_internal_tasks_need_is_refused_at_its_line() -> None:
    source = FLOW + "  - id: each_items\n    type: io.kestra.plugin.core.log.Log\n    message: x\n"

    with pytest.raises(SpecError) as caught:
        parse_flow(source)

    assert "duplicate task id 'each_items'" in str(caught.value.problems[0])


def test_batch_options_are_checked_at_deploy() -> None:
    with pytest.raises(SpecError, match="give only one of rows, bytes and partitions"):
        parse_flow(FLOW.replace("rows: 4", "rows: 4\n      partitions: 2"))


LINES = [f"{n:>5}\n" for n in range(10)]


@pytest.mark.parametrize(
    ("batch", "sizes"),
    [
        ({}, [1] * 10),
        ({"rows": 4}, [4, 4, 2]),
        ({"rows": "3"}, [3, 3, 3, 1]),
        ({"partitions": 3}, [4, 3, 3]),
        ({"partitions": 20}, [1] * 10),
        ({"bytes": "12B"}, [2, 2, 2, 2, 2]),
    ],
)
def test_items_are_cut_into_batches(batch: dict, sizes: list[int]) -> None:
    batches = split_items(LINES, batch)

    assert [len(b) for b in batches] == sizes
    assert [line for b in batches for line in b] == LINES


def test_an_empty_file_has_no_batch_and_separators_are_kept() -> None:
    assert split_items([], {"rows": 2}) == []
    assert cut_items("a\nb\nc", "\n") == ["a\n", "b\n", "c"]
    assert cut_items("a;b;", ";") == ["a;", "b;"]
    with pytest.raises(TaskFailed, match="more than 0"):
        split_items(LINES, {"rows": 0})


def test_the_split_task_writes_one_file_per_batch_and_their_list(tmp_path) -> None:
    ctx = FakeContext(tmp_path)
    (ctx.storage / "items.txt").write_text("".join(LINES))

    outputs = ForEachItemSplit().run(
        {"items": "kestra:///test/items.txt", "batch": {"rows": 4}}, ctx
    )

    listing = ctx.open_uri(outputs["splits"]).read_text().splitlines()
    assert listing == ["kestra:///test/0.txt", "kestra:///test/1.txt", "kestra:///test/2.txt"]
    assert ctx.open_uri(listing[2]).read_text() == "    8\n    9\n"


def test_the_split_task_refuses_what_is_not_internal_storage(tmp_path) -> None:
    with pytest.raises(TaskFailed, match="this is not an internal storage URI"):
        ForEachItemSplit().run({"items": "/etc/passwd"}, FakeContext(tmp_path))


def test_the_merge_task_gathers_each_childs_outputs_in_batch_order(tmp_path) -> None:
    ctx = FakeContext(tmp_path)
    for i in (0, 1):
        path = ctx.storage / "base" / str(i) / "outputs.json"
        path.parent.mkdir(parents=True)
        path.write_text(f'{{"n": {i}}}')
    items = {"numberOfBatches": 3, "uri": "kestra:///test/base"}
    ctx.render = lambda value, extra=None: {"{{ parents ?? [] }}": []}[value]

    outputs = ForEachItemMerge().run({"itemsOutputs": items}, ctx)

    merged = ctx.open_uri(outputs["subflowOutputs"]).read_text()
    assert merged == '{"n": 0}\n{"n": 1}\n'
