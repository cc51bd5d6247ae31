"""``ForEachItem``: split a file of items into batches and start one subflow per batch.

As in Kestra, the task runs as a block of three internal tasks, visible in the execution:

* ``<id>_split`` (runnable, on a worker): cuts the ``items`` file (one item per line) into
  batch files in internal storage and writes their URIs, one per line, to ``splits.txt``;
  outputs ``splits``;
* ``<id>_items`` (flowable): the runtime starts one child execution per batch, with the
  ``inputs`` rendered where ``taskrun.items`` is the batch's URI and ``taskrun.iteration``
  its number; outputs ``numberOfBatches`` and ``iterations`` (child executions by state),
  and ``uri`` (where each child's outputs were written) when the subflow has outputs;
* ``<id>_merge`` (runnable): gathers the children's outputs, one JSON line per batch in
  batch order, into one file; outputs ``subflowOutputs``.

The three tasks are added to the flow's spec when it is parsed (``synthetic_children``), so
the engine and the workers see ordinary children.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kernel.engine.plan import StartSubflow
from kernel.plugin import (
    FlowableContext,
    FlowableTask,
    Output,
    Prop,
    RunContext,
    RunnableTask,
    TaskFailed,
    kestra_aliases,
)
from kernel.states import State
from plugins.core.execution import label_pairs
from plugins.core.flow.sequential import BLOCK_PROPS, BlockTask

if TYPE_CHECKING:
    from kernel.spec.model import TaskSpec

SPLIT, ITEMS, MERGE = "_split", "_items", "_merge"
SPLIT_TYPE = "trellis.core.flow.ForEachItem.Split"
ITEMS_TYPE = "trellis.core.flow.ForEachItem.Items"
MERGE_TYPE = "trellis.core.flow.ForEachItem.Merge"
#: Kestra's names of the internal tasks, shown as the type of the runs.
KESTRA_PREFIX = "io.kestra.plugin.core.flow.ForEachItem$ForEachItem"
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?B?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3,
          "GB": 1024**3}  # fmt: skip
#: At most this many batches from one file: each is an execution.
MAX_BATCHES = 100_000


@dataclass(frozen=True)
class StartItemSubflows(StartSubflow):
    """Start one child execution per batch of the split task's ``splits`` (the runtime
    renders ``inputs`` per batch); ``inputs`` here are the unrendered ones."""

    split_task_id: str = ""
    inherit_labels: bool = False


class ForEachItem(BlockTask):
    type = "trellis.core.flow.ForEachItem"
    aliases = kestra_aliases("flow.ForEachItem", core_tasks="flows.ForEachItem")
    properties: ClassVar = (
        Prop("items", "string", required=True, description="A `kestra:///` URI: one item "
             "per line (JSON lines, CSV rows without header...)."),
        Prop("batch", "map", default={"rows": 1}, description="`rows` per batch (default 1), "
             "or `bytes` (like `10MB`) or `partitions` (a number of batches); `separator` "
             "between items (a new line by default)."),
        Prop("namespace", "string", required=True),
        Prop("flowId", "string", required=True),
        Prop("revision", "integer"),
        Prop("inputs", "map", default={}, description="Rendered per batch: "
             "`{{ taskrun.items }}` is the batch's URI, `{{ taskrun.iteration }}` its number."),
        Prop("labels", "any", default={}),
        Prop("wait", "boolean", default=True),
        Prop("transmitFailed", "boolean", default=True),
        Prop("inheritLabels", "boolean", default=False),
        Prop("scheduleDate", "string", description="Accepted; children start at once."),
        Prop("restartBehavior", "string", choices=("RETRY_FAILED", "NEW_EXECUTION"),
             default="RETRY_FAILED", description="Accepted for Kestra compatibility."),
        *BLOCK_PROPS,
    )  # fmt: skip
    examples = (
        """\
id: orders_parallel
namespace: company.team
inputs:
  - id: orders
    type: FILE
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEachItem
    items: "{{ inputs.orders }}"
    batch:
      rows: 100
    namespace: company.team
    flowId: orders
    inputs:
      order: "{{ taskrun.items }}"
""",
    )

    @classmethod
    def synthetic_children(cls, task: TaskSpec) -> dict[str, tuple[TaskSpec, ...]]:
        """The three internal tasks, built from this task's own properties."""
        props = dict(task.properties)

        def child(suffix: str, kind: str, kestra: str, properties: dict[str, Any]) -> TaskSpec:
            return replace(
                task,
                id=task.id + suffix,
                type=kind,
                raw_type=KESTRA_PREFIX + kestra,
                properties=properties,
                children={},
                retry=None,
                timeout=None,
                disabled=False,
                allow_failure=False,
                allow_warning=False,
                run_if=None,
                path=f"{task.path}.{suffix[1:]}",
            )

        subflow = {k: props[k] for k in ("namespace", "flowId", "revision", "inputs", "labels",
                                         "wait", "transmitFailed", "inheritLabels") if k in props}  # fmt: skip
        return {
            "tasks": (
                child(SPLIT, SPLIT_TYPE, "Split",
                      {"items": props.get("items"), "batch": props.get("batch") or {}}),
                child(ITEMS, ITEMS_TYPE, "Executable",
                      {**subflow, "splitTaskId": task.id + SPLIT}),
                child(MERGE, MERGE_TYPE, "MergeOutputs",
                      {"itemsOutputs": f"{{{{ outputs['{task.id}{ITEMS}'] ?? {{}} }}}}"}),
            )
        }  # fmt: skip

    @classmethod
    def validate(cls, props: Any) -> list[tuple[str, str]]:
        batch = props.get("batch")
        if batch is None:
            return []
        if not isinstance(batch, dict):
            return [("batch", "batch must be a map: rows, bytes or partitions")]
        unknown = sorted(set(batch) - {"rows", "bytes", "partitions", "separator",
                                       "regexPattern"})  # fmt: skip
        problems = [("batch", f"unknown batch option {k!r}") for k in unknown]
        if len({"rows", "bytes", "partitions"} & set(batch)) > 1:
            problems.append(("batch", "give only one of rows, bytes and partitions"))
        return problems


# --------------------------------------------------------------------------------- split


def _positive(value: Any, what: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise TaskFailed(f"batch {what} must be a whole number, not {value!r}") from None
    if number <= 0:
        raise TaskFailed(f"batch {what} must be more than 0, not {number}")
    return number


def _size(value: Any) -> int:
    m = _SIZE.match(str(value))
    if not m:
        raise TaskFailed(f"batch bytes must look like 10MB, not {value!r}")
    return _positive(int(m.group(1)) * _UNITS[m.group(2).upper()], "bytes")


def split_items(lines: list[str], batch: dict[str, Any]) -> list[list[str]]:
    """Items (with their separators) grouped into batches, as Kestra's ``batch`` says."""
    if not lines:
        return []
    if batch.get("partitions") not in (None, ""):
        parts = min(_positive(batch["partitions"], "partitions"), len(lines))
        size, extra = divmod(len(lines), parts)
        out, start = [], 0
        for i in range(parts):
            end = start + size + (1 if i < extra else 0)
            out.append(lines[start:end])
            start = end
        return out
    if batch.get("bytes") not in (None, ""):
        limit, out, current, used = _size(batch["bytes"]), [], [], 0
        for line in lines:
            if current and used + len(line.encode()) > limit:
                out.append(current)
                current, used = [], 0
            current.append(line)
            used += len(line.encode())
        return [*out, current] if current else out
    rows = _positive(batch.get("rows") if batch.get("rows") not in (None, "") else 1, "rows")
    return [lines[i : i + rows] for i in range(0, len(lines), rows)]


def cut_items(text: str, separator: str) -> list[str]:
    """The file cut after each separator (kept, so a batch file reads like the original)."""
    if not text:
        return []
    pieces = text.split(separator)
    items = [p + separator for p in pieces[:-1]]
    if pieces[-1]:
        items.append(pieces[-1])
    return items


class ForEachItemSplit(RunnableTask):
    type = SPLIT_TYPE
    properties: ClassVar = (Prop("items", "string", required=True), Prop("batch", "map"))

    outputs: ClassVar = (Output("splits", "The list of batch files, one URI a line.", "uri"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        uri = str(props.get("items") or "")
        if not uri.startswith("kestra://"):
            raise TaskFailed(
                f"Unable to split the items from {uri}, this is not an internal storage URI!"
            )
        batch = props.get("batch") or {}
        if not isinstance(batch, dict):
            raise TaskFailed("batch must be a map: rows, bytes or partitions")
        separator = str(batch.get("separator") or "\n")
        text = Path(ctx.open_uri(uri)).read_text(encoding="utf-8", errors="replace")
        batches = split_items(cut_items(text, separator), batch)
        if len(batches) > MAX_BATCHES:
            raise TaskFailed(f"{len(batches)} batches: at most {MAX_BATCHES} are allowed")
        folder = ctx.working_dir / "splits"
        folder.mkdir(parents=True, exist_ok=True)
        uris = []
        for i, lines in enumerate(batches):
            local = folder / f"{i}.txt"
            local.write_text("".join(lines), encoding="utf-8")
            uris.append(ctx.put_file(local, f"{i}.txt"))
        listing = ctx.working_dir / "splits.txt"
        listing.write_text("\n".join(uris), encoding="utf-8")
        ctx.logger.info(f"{len(uris)} batch(es) from {uri}")
        return {"splits": ctx.put_file(listing, "splits.txt")}


# --------------------------------------------------------------------------------- items


class ForEachItemItems(FlowableTask):
    type = ITEMS_TYPE
    properties: ClassVar = (
        Prop("namespace", "string", required=True),
        Prop("flowId", "string", required=True),
        Prop("revision", "integer"),
        Prop("inputs", "map", default={}),
        Prop("labels", "any", default={}),
        Prop("wait", "boolean", default=True),
        Prop("transmitFailed", "boolean", default=True),
        Prop("inheritLabels", "boolean", default=False),
        Prop("splitTaskId", "string", required=True),
    )

    def effects(self, task: TaskSpec, ctx: FlowableContext) -> list[Any]:
        props = task.properties
        revision = props.get("revision")
        return [
            StartItemSubflows(
                task_run_id=ctx.run.id,
                namespace=str(ctx.render(props["namespace"])),
                flow_id=str(ctx.render(props["flowId"])),
                revision=int(ctx.render(revision)) if revision not in (None, "") else None,
                inputs=dict(props.get("inputs") or {}),  # rendered per batch by the runtime
                labels=label_pairs(ctx.render(props.get("labels") or {})),
                wait=bool(props.get("wait", True)),
                transmit_failed=bool(props.get("transmitFailed", True)),
                split_task_id=str(props["splitTaskId"]),
                inherit_labels=bool(props.get("inheritLabels", False)),
            )
        ]

    def next_runs(self, task: TaskSpec, ctx: FlowableContext) -> list[Any]:
        return []

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        return None  # the runtime ends this run once every child execution has ended


# --------------------------------------------------------------------------------- merge


def _loop_node(tree: Any, parents: Any) -> Any:
    """``outputs.<task>`` of the current loop iteration: the tree is keyed by the values of
    the enclosing ForEach iterations, outermost first."""
    for parent in reversed(list(parents or [])):
        run = parent.get("taskrun") if isinstance(parent, dict) else None
        if isinstance(run, dict) and run.get("iteration") is not None and run.get("value"):
            tree = tree.get(run["value"]) if isinstance(tree, dict) else None
    return tree


class ForEachItemMerge(RunnableTask):
    type = MERGE_TYPE
    properties: ClassVar = (
        Prop("itemsOutputs", "map", description="The items task's outputs (by loop value "
             "when ForEachItem sits in a ForEach)."),
    )  # fmt: skip

    outputs: ClassVar = (
        Output(
            "subflowOutputs",
            "The subflows' outputs, one JSON object a line (absent when there are none).",
            "uri",
        ),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        node = _loop_node(props.get("itemsOutputs") or {}, ctx.render("{{ parents ?? [] }}"))
        if not isinstance(node, dict) or not node.get("uri"):
            return {}  # no batch, or a subflow without outputs
        base = str(node["uri"]).rstrip("/")
        merged = ctx.working_dir / "outputs.jsonl"
        found = 0
        with merged.open("w", encoding="utf-8") as out:
            for i in range(int(node.get("numberOfBatches") or 0)):
                path = Path(ctx.open_uri(f"{base}/{i}/outputs.json"))
                if path.is_file():
                    out.write(json.dumps(json.loads(path.read_text(encoding="utf-8"))) + "\n")
                    found += 1
        if not found:
            return {}
        return {"subflowOutputs": ctx.put_file(merged, "outputs.jsonl")}


PLUGINS = [ForEachItem, ForEachItemSplit, ForEachItemItems, ForEachItemMerge]
