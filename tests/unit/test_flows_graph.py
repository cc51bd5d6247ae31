"""flows.graph: every task a node, flowables as clusters, edges in the order tasks run."""

from __future__ import annotations

from flows.graph import ROOT_END, ROOT_START, flow_graph
from kernel.spec.model import FlowSpec, TaskSpec, TriggerSpec

LOG = "trellis.core.log.Log"


def log(task_id: str) -> TaskSpec:
    return TaskSpec(id=task_id, type=LOG, raw_type=LOG)


def flowable(task_id: str, short: str, properties=None, **children) -> TaskSpec:
    name = f"trellis.core.flow.{short}"
    return TaskSpec(
        id=task_id,
        type=name,
        raw_type=name,
        properties=properties or {},
        children={k: tuple(v) for k, v in children.items()},
    )


def edges(graph) -> set[tuple[str, str, str]]:
    return {(e.source, e.target, e.relation) for e in graph.edges}


def test_a_sequence_is_a_chain_from_start_to_end():
    graph = flow_graph(FlowSpec(id="f", namespace="n", tasks=(log("a"), log("b"))))

    assert [n.uid for n in graph.nodes] == [ROOT_START, "a", "b", ROOT_END]
    assert edges(graph) == {
        (ROOT_START, "a", "sequential"),
        ("a", "b", "sequential"),
        ("b", ROOT_END, "sequential"),
    }
    assert graph.clusters == []


def test_an_empty_flow_links_start_to_end():
    graph = flow_graph(FlowSpec(id="f", namespace="n"))
    assert edges(graph) == {(ROOT_START, ROOT_END, "sequential")}


def test_parallel_fans_out_and_joins_at_its_end_node():
    par = flowable("p", "Parallel", tasks=[log("x"), log("y")])

    graph = flow_graph(FlowSpec(id="f", namespace="n", tasks=(par, log("after"))))

    assert edges(graph) == {
        (ROOT_START, "p", "sequential"),
        ("p", "x", "parallel"),
        ("p", "y", "parallel"),
        ("x", "p.end", "sequential"),
        ("y", "p.end", "sequential"),
        ("p.end", "after", "sequential"),
        ("after", ROOT_END, "sequential"),
    }
    (cluster,) = graph.clusters
    assert (cluster.uid, cluster.start, cluster.end, cluster.parent) == (
        "cluster_p",
        "p",
        "p.end",
        None,
    )
    assert cluster.nodes == ["p", "x", "y", "p.end"]


def test_sequential_children_run_in_order_inside_their_cluster():
    seq = flowable("s", "Sequential", tasks=[log("x"), log("y")])

    graph = flow_graph(FlowSpec(id="f", namespace="n", tasks=(seq,)))

    assert {
        ("s", "x", "sequential"),
        ("x", "y", "sequential"),
        ("y", "s.end", "sequential"),
    } <= edges(graph)
    assert ("s", "y", "sequential") not in edges(graph)


def test_branches_are_labelled_and_nested_clusters_know_their_parent():
    inner = flowable("inner", "Parallel", tasks=[log("i1")])
    cond = flowable("if", "If", then=[inner], **{"else": [log("e1")]})

    graph = flow_graph(FlowSpec(id="f", namespace="n", tasks=(cond,)))

    branch_edges = {(e.source, e.target, e.value) for e in graph.edges if e.relation == "branch"}
    assert branch_edges == {("if", "inner", "then"), ("if", "e1", "else")}
    parents = {c.uid: c.parent for c in graph.clusters}
    assert parents == {"cluster_if": None, "cluster_inner": "cluster_if"}
    node_cluster = {n.uid: n.cluster for n in graph.nodes}
    assert node_cluster["i1"] == "cluster_inner"
    assert node_cluster["e1"] == "cluster_if"


def test_errors_and_finally_lists():
    seq = flowable(
        "s", "Sequential", tasks=[log("x")], errors=[log("err")], **{"finally": [log("fin")]}
    )
    spec = FlowSpec(id="f", namespace="n", tasks=(seq,), errors=(log("ferr"),))

    graph = flow_graph(spec)

    assert {
        ("s", "err", "error"),
        ("x", "fin", "finally"),
        ("err", "fin", "finally"),
        ("fin", "s.end", "sequential"),
        (ROOT_START, "ferr", "error"),
        ("ferr", ROOT_END, "sequential"),
    } <= edges(graph)


def test_foreach_with_concurrency_is_parallel_and_dynamic():
    loop = flowable("loop", "ForEach", {"concurrencyLimit": 0}, tasks=[log("a"), log("b")])

    graph = flow_graph(FlowSpec(id="f", namespace="n", tasks=(loop,)))

    assert {("loop", "a", "dynamic"), ("loop", "b", "dynamic")} <= edges(graph)


def test_dag_edges_follow_depends_on():
    # Declared before its dependency: the graph still links a -> b.
    dag = flowable("d", "Dag", {"dependsOn": {"a": [], "b": ["a"]}}, tasks=[log("b"), log("a")])

    graph = flow_graph(FlowSpec(id="f", namespace="n", tasks=(dag,)))

    assert {("d", "a", "parallel"), ("a", "b", "dag"), ("b", "d.end", "sequential")} <= edges(graph)
    assert ("a", "d.end", "sequential") not in edges(graph)


def test_triggers_point_at_the_start_and_disabled_tasks_are_marked():
    task = TaskSpec(id="a", type=LOG, raw_type=LOG, disabled=True)
    trigger = TriggerSpec(id="daily", type="trellis.core.trigger.Schedule", raw_type="Schedule")

    graph = flow_graph(FlowSpec(id="f", namespace="n", tasks=(task,), triggers=(trigger,)))

    assert ("trigger.daily", ROOT_START, "trigger") in edges(graph)
    assert next(n for n in graph.nodes if n.uid == "a").disabled is True
    as_dict = graph.as_dict()
    assert as_dict["nodes"][1] == {
        "uid": "trigger.daily",
        "kind": "trigger",
        "taskId": "daily",
        "type": "trellis.core.trigger.Schedule",
        "cluster": None,
        "disabled": False,
    }
