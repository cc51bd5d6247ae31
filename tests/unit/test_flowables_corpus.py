"""Kestra's own flows for each flowable type, run by the pure engine with the real pure
runnables: task-run counts and final states as Kestra's tests expect them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.unit.engine_sim import Sim

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "kestra-corpus"
pytestmark = pytest.mark.skipif(not CORPUS.exists(), reason="the Kestra corpus is not here")


def expectations() -> dict[str, dict]:
    doc = yaml.safe_load((CORPUS / "expectations.yaml").read_text())
    return {entry["file"]: entry for entry in doc["entries"]}


CASES = [
    ("foreach-non-concurrent.yaml", {}),
    ("each-sequential.yaml", {}),
    ("each-sequential-nested.yaml", {}),
    ("each-object.yaml", {}),
    ("each-empty.yaml", {}),
    ("each-null.yaml", {}),
    ("if.yaml", None),
    ("if-without-else.yaml", None),
    ("if-condition.yaml", None),
    ("switch.yaml", None),
    ("switch-impossible.yaml", None),
    ("dag.yaml", {}),
    ("allow-failure.yaml", {}),
    ("waitfor.yaml", {}),
    ("waitfor-max-iterations.yaml", {}),
    ("parallel.yaml", {}),
]


def scenarios():
    found = expectations() if CORPUS.exists() else {}
    for name, _ in CASES:
        entry = found.get(name)
        for scenario in (entry or {}).get("scenarios", []):
            if "steps" in scenario or "expected" not in scenario:
                continue
            yield pytest.param(name, scenario, id=f"{name}:{scenario['name']}")


@pytest.mark.parametrize(("name", "scenario"), list(scenarios()))
def test_corpus_flow_matches_kestra(name: str, scenario: dict) -> None:
    source = (CORPUS / "flows" / name).read_text()
    sim = Sim(source, None, inputs=scenario.get("inputs") or {})
    final = sim.finish()
    expected = scenario["expected"]
    state = expected.get("state")
    if state and state != "unknown":
        assert final.state == state, (sim.logs, sim.task_logs)
    count = expected.get("taskrun_count")
    if isinstance(count, int):
        assert len(sim.runs) == count, [(r.task_id, r.value, r.state.value) for r in sim.runs]
