"""A Python Script with ``dependencies``, deployed under Kestra's type names and run by the
real worker processes: the first execution builds the cached environment under TRELLIS_HOME,
the second reuses it, and an install failure fails the task run with pip's message.

The package (``six``) comes from the package index the workers' pip is configured with; the
test skips when no index answers (a laptop offline). Under bubblewrap (CI) the install step
runs in its own sandbox, which sees the system's pip configuration but not /opt or the
checkout, so the check below asks the default index the same way."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from executions.models import TaskRun
from executions.services import execution_create, execution_wait
from flows.services import flow_deploy
from kernel.states import State
from plugins.scripts import deps
from tests.integration.runs import log_messages, run_source, task_runs
from tests.unit.plugins_scripts_deps.helpers import index_answers

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FLOW = """
id: deps_script
namespace: it.scripts.deps
tasks:
  - id: py
    type: io.kestra.plugin.scripts.python.Script
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    dependencies:
      - six==1.17.0
    script: |
      import json, sys, six
      print("::" + json.dumps({"outputs": {"six": six.__version__, "prefix": sys.prefix}}) + "::")
  - id: cmd
    type: io.kestra.plugin.scripts.python.Commands
    dependencies: ["six==1.17.0"]
    commands:
      - python -c "import six; print('six', six.__version__)"
"""

BROKEN = """
id: deps_broken
namespace: it.scripts.deps
tasks:
  - id: py
    type: io.kestra.plugin.scripts.python.Script
    dependencies:
      - trellis-no-such-package-4242
    script: print("never")
"""


def _index_answers() -> bool:
    probe = Path(settings.TRELLIS_HOME) / "pip-probe"
    return index_answers(probe, "six==1.17.0", timeout=90, no_cache=True)


def test_a_script_with_dependencies_builds_then_reuses_its_environment(workers) -> None:
    if not _index_answers():
        pytest.skip("no package index answers pip here")
    flow = flow_deploy(source=FLOW).flow
    first = execution_wait(execution_create(flow=flow).id, timeout=240)
    assert first.state == State.SUCCESS, log_messages(first)
    runs = task_runs(first)
    assert runs["py"].outputs["vars"]["six"] == "1.17.0"
    prefix = Path(runs["py"].outputs["vars"]["prefix"])
    assert prefix.parent == Path(settings.TRELLIS_HOME).resolve() / deps.ENVS_FOLDER
    assert (prefix / deps.READY_MARKER).is_file()
    assert "six 1.17.0" in log_messages(first)
    built = [m for m in log_messages(first) if m.startswith("dependencies: installing")]
    assert len(built) <= 1  # the second task reused what the first built

    second = execution_wait(execution_create(flow=flow).id, timeout=120)
    assert second.state == State.SUCCESS, log_messages(second)
    again = TaskRun.objects.get(execution=second, task_id="py")
    assert again.outputs["vars"]["prefix"] == str(prefix)
    assert not any(m.startswith("dependencies: installing") for m in log_messages(second))


def test_an_install_failure_fails_the_task_run_with_pip_s_message(workers) -> None:
    if not _index_answers():
        pytest.skip("no package index answers pip here")
    done = run_source(BROKEN, timeout=240)
    assert done.state == State.FAILED
    errors = [m for m in log_messages(done) if "installing dependencies with" in m]
    assert errors, log_messages(done)
    assert "trellis-no-such-package-4242" in errors[0]
    assert "never" not in log_messages(done)
