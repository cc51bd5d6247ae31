"""List the import cycles between the project's modules, counting imports inside functions.

grimp (import-linter's graph) records every import statement of a module, wherever it sits,
so a cycle hidden in a function body counts. Prints each strongly connected group of
modules; exits 1 when there is one. Run by ``make lint`` and by tests/unit/test_layers.py.
"""

from __future__ import annotations

import sys

import grimp

PACKAGES = (
    "kernel", "plugins", "executions", "flows", "triggers", "namespaces", "kv", "access",
    "templates", "orchestrator", "compat",
)  # fmt: skip


def cycles(packages: tuple[str, ...] = PACKAGES) -> list[list[str]]:
    """Every group of modules that import each other, directly or through others."""
    graph = grimp.build_graph(*packages, cache_dir=None, exclude_type_checking_imports=True)
    modules = sorted(m for m in graph.modules if ".migrations" not in m)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & set(modules)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in edges[v]:
                found.append(sorted(group))

    for m in modules:
        if m not in index:
            visit(m)
    return found


def main() -> int:
    found = cycles()
    for group in found:
        print(f"cycle of {len(group)} modules: {', '.join(group)}")  # noqa: T201 - a command-line report
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
