"""The admin's pure pieces: durations, storage-URI walking, Gantt, topology and chart SVG."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

from executions.admin.chart import stacked_bars_svg
from executions.admin.common import format_duration, state_color, storage_uris
from executions.admin.gantt import GanttBar, GanttRow, gantt_svg
from executions.admin.topology import node_statuses, topology_svg
from flows.graph import flow_graph
from kernel.spec.model import FlowSpec, TaskSpec

T0 = datetime(2024, 1, 1, tzinfo=UTC)
LOG = "trellis.core.log.Log"


def parse(svg: str) -> ElementTree.Element:
    """The markup is well-formed XML (a stray quote or bracket from user text would fail)."""
    return ElementTree.fromstring(svg)


def task(task_id: str, type_: str = LOG, **children) -> TaskSpec:
    return TaskSpec(
        id=task_id, type=type_, raw_type=type_,
        children={k: tuple(v) for k, v in children.items()},
    )  # fmt: skip


def test_format_duration_is_short_at_every_scale():
    assert [format_duration(timedelta(seconds=s)) for s in (0.12, 4.213, 185, 3720, 200_000)] == [
        "120ms",
        "4.21s",
        "3m 05s",
        "1h 02m",
        "2d 07h",
    ]
    assert format_duration(None) == "—"


def test_storage_uris_finds_files_anywhere_in_a_value():
    value = {"a": "kestra:///x/y.txt", "b": [1, {"c": "kestra:///z.csv"}], "d": "http://no"}
    assert list(storage_uris(value)) == [("a", "kestra:///x/y.txt"), ("b[1].c", "kestra:///z.csv")]


def test_gantt_draws_a_row_per_run_and_a_bar_per_attempt():
    rows = [
        GanttRow("a <b>", 0, "SUCCESS", T0, T0 + timedelta(seconds=4), (
            GanttBar("FAILED", T0, T0 + timedelta(seconds=1), "attempt 1"),
            GanttBar("SUCCESS", T0 + timedelta(seconds=2), T0 + timedelta(seconds=4), "attempt 2"),
        ), href="#taskrun-1"),
        GanttRow("child", 1, "RUNNING", T0 + timedelta(seconds=4), None),
    ]  # fmt: skip

    svg = gantt_svg(rows, now=T0 + timedelta(seconds=8))

    root = parse(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}g")) == 2
    attempts = [r for r in root.iter(f"{ns}rect") if r.get("class") == "gantt-attempt"]
    assert [a.get("fill") for a in attempts] == [state_color("FAILED"), state_color("SUCCESS")]
    assert "a &lt;b&gt;" in svg
    # The running row stretches to "now", the right end of the axis.
    running = [r for r in root.iter(f"{ns}rect") if r.get("fill") == state_color("RUNNING")][0]
    assert float(running.get("x")) + float(running.get("width")) == 240 + 720


def test_gantt_without_rows_says_so():
    assert "No task run yet" in gantt_svg([], now=T0)


def test_node_statuses_prefer_a_live_run_then_the_worst_ended_one():
    statuses = node_statuses(
        [("a", "SUCCESS", None), ("b", "SUCCESS", "1"), ("b", "FAILED", "2"),
         ("c", "SUCCESS", "1"), ("c", "RUNNING", "2")]
    )  # fmt: skip
    assert statuses["a"].state == "SUCCESS"
    assert statuses["a"].runs == 1
    assert statuses["b"].state == "FAILED"
    assert statuses["b"].values == 2
    assert statuses["c"].state == "RUNNING"


def test_topology_colours_nodes_groups_flowables_and_counts_iterations():
    loop = task("loop", "trellis.core.flow.ForEach", tasks=[task("body")])
    par = task("par", "trellis.core.flow.Parallel", tasks=[task("x"), task("y")])
    spec = FlowSpec(id="f", namespace="n", tasks=(task("first"), par, loop))
    statuses = node_statuses(
        [("first", "SUCCESS", None), ("loop", "RUNNING", None), ("body", "SUCCESS", "1"),
         ("body", "SUCCESS", "2"), ("body", "RUNNING", "3")]
    )  # fmt: skip

    svg = topology_svg(flow_graph(spec), statuses, link_prefix="#task-")

    parse(svg)
    assert 'data-task="first" data-state="SUCCESS"' in svg
    assert 'data-task="x" data-state=""' in svg  # never ran: no colour
    assert "ForEach · 3 iterations" in svg
    assert svg.count('class="topology-cluster"') == 2
    assert 'href="#task-first"' in svg
    assert 'href="#task-x"' not in svg
    # Columns follow the run order: first < par < x < loop.
    xs = {
        m[0]: float(m[1])
        for m in re.findall(
            r'data-task="(\w+)" data-state="\w*"><title>[^<]*</title><rect x="([\d.]+)"', svg
        )
    }
    assert xs["first"] < xs["par"] < xs["x"] < xs["loop"]
    assert xs["x"] == xs["y"]


def test_chart_stacks_states_per_hour():
    buckets = [T0 + timedelta(hours=i) for i in range(3)]
    svg = stacked_bars_svg(buckets, {buckets[1]: {"SUCCESS": 2, "FAILED": 1}})

    root = parse(svg)
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert [b.get("data-state") for b in bars] == ["SUCCESS", "FAILED"]
    assert abs(float(bars[0].get("height")) - 2 * float(bars[1].get("height"))) < 0.2


def test_topology_labels_the_errors_and_finally_branches_once_each():
    spec = FlowSpec(
        id="f", namespace="n", tasks=(task("a"), task("b")),
        errors=(task("handle"),), finally_=(task("cleanup"),),
    )  # fmt: skip
    root = parse(topology_svg(flow_graph(spec)))
    ns = {"s": "http://www.w3.org/2000/svg"}
    tags = {
        g.get("data-relation"): "".join(g.itertext())
        for g in root.iterfind(".//s:g[@class='topology-branch']", ns)
    }
    assert tags == {"error": "on error", "finally": "finally"}
    assert len(root.findall(".//s:g[@class='topology-branch']", ns)) == 2  # not one per exit
