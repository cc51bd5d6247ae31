"""The compatibility runner on real workers: a handful of corpus scenarios that Trellis
supports today pass end to end (deploy, run, read back, judge)."""

from __future__ import annotations

import pytest

from compat import live
from compat.checks import PASS, REFUSED
from compat.runner import Runner
from compat.scenarios import default_corpus, load_corpus

CORPUS = default_corpus()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (CORPUS / "expectations.yaml").exists(), reason="no Kestra corpus"),
]
#: Log/Return-only, Parallel, Fail with `errors`, raw inputs, an input refusal, a restart.
SCENARIOS = [
    "minimal.yaml:run",
    "return.yaml:run",
    "parallel.yaml:run",
    "errors.yaml:run",
    "fail-on-condition.yaml:fail",
    "allow-failure.yaml:no-crash",
    "inputs.yaml:input-error-3-validatedInt",
    "restart_always_failed.yaml:restart",
]


@pytest.fixture
def runner(workers) -> Runner:
    corpus = load_corpus(CORPUS)
    return Runner(corpus, live.deploy_corpus(corpus), timeout=60)


def test_simple_corpus_scenarios_pass_on_real_workers(runner: Runner) -> None:
    # Given the corpus deployed and real workers, when each scenario runs
    by_key = {s.key: s for s in runner.corpus.scenarios}
    results = [runner.run_scenario(by_key[key]) for key in SCENARIOS]
    # then every one passes (the reasons say why not)
    failing = {r.key: f"{r.category}: {r.reason} {r.notes}" for r in results if r.category != PASS}
    assert failing == {}


def test_a_flow_trellis_refuses_is_reported_with_its_line(runner: Runner) -> None:
    # Given a scenario whose flow needs a type Trellis lacks (or a test-only one)
    refused = set(runner.deployment.refused)
    scenario = next((s for s in runner.corpus.scenarios if s.file in refused), None)
    if scenario is None:
        pytest.skip("Trellis deploys every corpus flow that has scenarios")
    # when it runs, then nothing is executed and the deploy problem is the reason
    result = runner.run_scenario(scenario)
    assert result.category in (REFUSED, "not applicable")
    assert result.execution_id is None
    if result.category == REFUSED:
        assert f"{scenario.file}:" in result.reason  # file:line:col
