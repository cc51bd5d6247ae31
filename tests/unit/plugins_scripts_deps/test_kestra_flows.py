"""Flows written as Kestra's documentation writes them deploy unchanged (validation only:
running them is tested elsewhere), and bad runner or dependency settings are refused at
deploy with the property named."""

from __future__ import annotations

import pytest

from kernel.spec.model import SpecError
from kernel.spec.parse import parse_flow

PYTHON_DOCKER = """
id: python_docker
namespace: company.team
tasks:
  - id: code
    type: io.kestra.plugin.scripts.python.Script
    containerImage: python:3.12-slim
    taskRunner:
      type: io.kestra.plugin.scripts.runner.docker.Docker
      pullPolicy: IF_NOT_PRESENT
      cpu:
        cpus: 1
    dependencies:
      - pandas
      - requests>=2.28
    pythonVersion: "3.12"
    dependencyCacheEnabled: true
    packageManager: UV
    namespaceFiles:
      enabled: true
      include:
        - scripts/**
    inputFiles:
      data.csv: "a,b\\n1,2"
    outputFiles:
      - "*.json"
    beforeCommands:
      - echo ready
    script: |
      print("hi")
"""

DBT = """
id: dbt_duckdb
namespace: company.team
tasks:
  - id: dbt_build
    type: io.kestra.plugin.dbt.cli.DbtCLI
    taskRunner:
      type: io.kestra.plugin.scripts.runner.docker.Docker
      delete: true
    containerImage: ghcr.io/kestra-io/dbt-duckdb:latest
    loadManifest:
      key: manifest.json
      namespace: "{{ flow.namespace }}"
    storeManifest:
      key: manifest.json
      namespace: "{{ flow.namespace }}"
    projectDir: dbt
    parseRunResults: true
    logFormat: JSON
    commands:
      - dbt deps
      - dbt build
    profiles: |
      my_dbt_project:
        outputs:
          dev:
            type: duckdb
            path: ":memory:"
        target: dev
"""

CHAT = """
id: openai
namespace: company.team
inputs:
  - id: prompt
    type: STRING
    defaults: What is data orchestration?
tasks:
  - id: completion
    type: io.kestra.plugin.openai.ChatCompletion
    apiKey: "yourOpenAIapiKey"
    model: gpt-4o
    prompt: "{{ inputs.prompt }}"
    temperature: 0.5
  - id: prioritize
    type: io.kestra.plugin.openai.ChatCompletion
    apiKey: "yourOpenAIapiKey"
    model: gpt-4o
    messages:
      - role: user
        content: "{{ inputs.prompt }}"
    functions:
      - name: respond_to_review
        description: Decide how urgently to reply.
        parameters:
          - name: response_urgency
            type: string
            description: How urgently.
            required: true
            enumValues:
              - reply_immediately
              - reply_later
"""

NODE = """
id: node
namespace: company.team
tasks:
  - id: script
    type: io.kestra.plugin.scripts.node.Script
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    beforeCommands:
      - npm install colors
    script: console.log("hi")
"""


@pytest.mark.parametrize(
    "source", [PYTHON_DOCKER, DBT, CHAT, NODE], ids=["py", "dbt", "chat", "node"]
)
def test_kestra_style_flows_deploy(source: str) -> None:
    parse_flow(source)


@pytest.mark.parametrize(
    ("task", "needle"),
    [
        (
            "    type: io.kestra.plugin.scripts.shell.Commands\n    commands: [x]\n"
            "    taskRunner:\n      type: io.kestra.plugin.ee.kubernetes.runner.Kubernetes\n",
            "is not supported",
        ),
        (
            "    type: io.kestra.plugin.scripts.shell.Commands\n    commands: [x]\n"
            "    taskRunner:\n      type: io.kestra.plugin.scripts.runner.docker.Docker\n"
            "      privileged: true\n",
            "privileged is not allowed",
        ),
        (
            "    type: io.kestra.plugin.scripts.python.Script\n    script: x\n"
            "    dependencies:\n      - --extra-index-url=http://evil/simple\n",
            "installer options are not allowed",
        ),
        (
            "    type: io.kestra.plugin.scripts.python.Commands\n    commands: [x]\n"
            "    dependencies:\n      - pkg @ file:///etc/secret\n",
            "local paths are not allowed",
        ),
        (
            "    type: io.kestra.plugin.openai.ChatCompletion\n    apiKey: k\n    model: m\n",
            "either `messages` or `prompt` must be set",
        ),
    ],
)
def test_bad_settings_are_refused_at_deploy(task: str, needle: str) -> None:
    source = f"id: bad\nnamespace: company.team\ntasks:\n  - id: t\n{task}"
    with pytest.raises(SpecError) as info:
        parse_flow(source)
    assert needle in str(info.value)
