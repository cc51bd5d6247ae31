"""No module writes the state of an execution or a task run but the chokepoint
(``executions/runtime/states.py``): read from the source, so a new direct write fails here
before it can skip the transition table.

What counts as a write: an assignment to ``<something>.state`` (alone or in a tuple), a
queryset ``.update(state=...)``, and a plain-SQL ``rows.update(<model>, {"state": ...})``.
Creating a row in its first state is not a move and is not looked at. The few writes left
are listed below with why each is safe; the list must only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The Django side and the tools that drive it (the kernel's planner works on its own copy).
PACKAGES = ("executions", "triggers", "flows", "namespaces", "orchestrator", "compat", "kv",
            "access", "templates", "plugins", "bench", "tools")  # fmt: skip
CHOKEPOINT = "executions/runtime/states.py"

#: (file, enclosing function, what is written): writes that are not an execution's or a task
#: run's move, or that check the move through the chokepoint themselves.
ALLOWED = {
    # An attempt is one try, not a row of either kind (see executions/runtime/states.py).
    ("executions/runtime/advance.py", "_recover_lost_attempt", "attempt.state"),
    ("executions/worker/attempt.py", "claim", "attempt.state"),
    ("executions/worker/attempt.py", "_claimed", "attempt.state"),
    ("executions/worker/attempt.py", "_record", "rows.update(TaskRunAttempt)"),
    ("executions/runtime/persistence.py", "end_subflow_attempt", ".update(state=)"),
    ("executions/runtime/children.py", "end_run", ".update(state=)"),
    ("executions/runtime/unloadable.py", "_fail", ".update(state=)"),
    # The worker's record: checked by check_task_run_move, WHERE state = RUNNING.
    ("executions/worker/attempt.py", "_record", "rows.update(TaskRun)"),
    # A flow test's result object, not a row.
    ("flows/testsuite/runner.py", "run_case", "result.state"),
}


def _writes(path: Path) -> list[tuple[str, str, int]]:
    """(enclosing function, what is written, line) for each state write in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for t in target.elts if isinstance(target, ast.Tuple) else [target]:
                if isinstance(t, ast.Attribute) and t.attr == "state":
                    found.append((function, f"{ast.unparse(t.value)}.state", node.lineno))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            is_rows = ast.unparse(node.func.value) == "rows"  # its keywords are the WHERE
            if (
                node.func.attr == "update"
                and not is_rows
                and any(k.arg == "state" for k in node.keywords)
            ):
                found.append((function, ".update(state=)", node.lineno))
            if (
                node.func.attr == "update"
                and is_rows
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Dict)
                and any(
                    isinstance(k, ast.Constant) and k.value == "state" for k in node.args[1].keys
                )
            ):
                found.append((function, f"rows.update({ast.unparse(node.args[0])})", node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "")
    return found


def test_only_the_chokepoint_writes_states() -> None:
    seen: set[tuple[str, str, str]] = set()
    wrong: list[str] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name == CHOKEPOINT or "/migrations/" in name:
                continue
            for function, what, line in _writes(path):
                key = (name, function, what)
                seen.add(key)
                if key not in ALLOWED:
                    wrong.append(f"{name}:{line} in {function or '<module>'}: {what}")
    assert not wrong, (
        "state written outside executions/runtime/states.py (call set_execution_state or "
        "set_task_run_state):\n" + "\n".join(wrong)
    )
    assert seen >= ALLOWED, f"no longer written, drop from ALLOWED: {sorted(ALLOWED - seen)}"


def test_the_guard_sees_a_direct_write(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "def f(run, qs):\n"
        "    run.state, run.ended_at = 'SUCCESS', None\n"
        "    qs.update(state='FAILED')\n"
        "    rows.update(TaskRun, {'state': 'X'}, id=1)\n"
    )
    assert [w[1] for w in _writes(source)] == [
        "run.state", ".update(state=)", "rows.update(TaskRun)",
    ]  # fmt: skip
