"""DbtCLI and ChatCompletion deployed under Kestra's type names and run by the real workers.

dbt: dbt-core and dbt-duckdb are installed into the workers' cached environment (the first
run on a fresh TRELLIS_HOME takes about a minute), then a tiny project given as inputFiles is
built against DuckDB; skipped when no package index answers. OpenAI: the workers' outbound
guard refuses a loopback base URL (the request/response exchange itself is tested against a
local fake API in tests/unit/plugins_openai, where the guard can be opened for the test)."""

from __future__ import annotations

import json

import pytest

from executions.models import TaskRun
from kernel.states import State
from tests.integration.runs import log_messages, run_source
from tests.integration.test_script_deps_integration import _index_answers

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DBT_FLOW = """
id: dbt_duckdb
namespace: it.scripts.dbt
tasks:
  - id: dbt
    type: io.kestra.plugin.dbt.cli.DbtCLI
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    dependencies:
      - dbt-core>=1.8,<1.12
      - dbt-duckdb
    env:
      DBT_SEND_ANONYMOUS_USAGE_STATS: "false"
    inputFiles:
      proj/dbt_project.yml: |
        name: demo
        version: '1.0'
        config-version: 2
        profile: demo
      proj/models/answer.sql: select 42 as answer
    projectDir: proj
    profiles: |
      demo:
        target: dev
        outputs:
          dev:
            type: duckdb
            path: dbt.duckdb
            threads: 1
    commands:
      - dbt build
"""

CHAT_FLOW = """
id: chat
namespace: it.openai
tasks:
  - id: completion
    type: io.kestra.plugin.openai.ChatCompletion
    apiKey: sk-never-sent
    model: gpt-4o-mini
    prompt: hello
    baseUrl: http://127.0.0.1:9/v1
"""


def test_dbt_cli_builds_a_duckdb_project_on_the_workers(workers) -> None:
    if not _index_answers():
        pytest.skip("no package index answers pip here")
    done = run_source(DBT_FLOW, timeout=420)
    assert done.state == State.SUCCESS, log_messages(done)[-30:]
    run = TaskRun.objects.get(execution=done, task_id="dbt")
    assert {"run_results.json", "manifest.json"} <= set(run.outputs["outputFiles"])
    assert any("Completed successfully" in m for m in log_messages(done))


def test_chat_completion_runs_on_the_workers_behind_the_outbound_guard(workers) -> None:
    done = run_source(CHAT_FLOW, timeout=60)
    assert done.state == State.FAILED
    refused = [m for m in log_messages(done) if "HTTP request refused" in m]
    assert refused, log_messages(done)
    assert "loopback" in refused[0]
    assert not any("sk-never-sent" in m for m in log_messages(done))
    assert "sk-" not in json.dumps(TaskRun.objects.get(execution=done).outputs or {})
