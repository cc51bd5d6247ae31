"""Secrets masked everywhere a value is stored or shown (issue 21; eight asterisks, issue 22).

Each attack of the issue is reproduced: a flow puts a secret (or a SECRET input) where it
used to be stored or shown in clear, and afterwards the secret, and what a template derived
from it (join, list, slices, replace, concatenation, case changes, base64), is in no row of
the database and in no document served (API JSON, CLI output, admin HTML, webhook response,
log lines). The flows still *use* the value: a task downstream computes its length.

The unit tests at the top check the tracking itself (kernel.taint) without a database;
the database tests drive executions hop by hop in this process (executor, then the queued
attempts), as tests/db/test_incremental_snapshots.py does.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from access.models import NamespaceGrant
from executions.documents import execution_json
from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from executions.runtime import dispatch, snapshot_cache
from executions.runtime.advance import advance_execution
from executions.services import execution_create
from executions.worker.attempt import run_attempt
from flows.services import flow_deploy
from kernel.expressions.render import ExpressionError, evaluate, render
from kernel.secrets import MASK, SEAL_PREFIX, seal_secret, seal_value, shown, shown_inputs
from kernel.states import TERMINAL, State
from kernel.taint import SecretText, fragments, seal, shown_form, unseal
from tests.cells import every_cell

SECRET = "opensesame-hunter42"
PARTS = ("opensesame", "hunter42")
#: The secret and what templates below derive from it: none may be stored or shown.
FORMS = (
    SECRET,
    SECRET.upper(),
    " ".join(SECRET),
    SECRET[2:9],
    SECRET.replace("-", "+"),
    base64.b64encode(SECRET.encode()).decode(),
    *PARTS,
)
NS = "t.mask"


def leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_MASK_PW", base64.b64encode(SECRET.encode()).decode())


class SeenIO:
    """The render's I/O: remembers what was handed to the log masker."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_secret(self, value: str) -> None:
        self.seen.append(value)


# ------------------------------------------------------------------ tracking, no database


def test_issue_22_a_masked_secret_prints_as_eight_asterisks() -> None:
    assert MASK == "********"
    assert render("{{ secret('MASK_PW') }}", {}).shown == "********"


@pytest.mark.parametrize(
    ("template", "clear"),
    [
        ("{{ secret('MASK_PW') | list | join(' ') }}", " ".join(SECRET)),
        ("{{ ' '.join(secret('MASK_PW') | list) }}", " ".join(SECRET)),
        ("{{ secret('MASK_PW')[2:9] }}", SECRET[2:9]),
        ("{{ secret('MASK_PW') | slice(2, 9) }}", SECRET[2:9]),
        ("{{ secret('MASK_PW') | replace('-', '+') }}", SECRET.replace("-", "+")),
        ("{{ secret('MASK_PW').replace('-', '+') }}", SECRET.replace("-", "+")),
        ("{{ secret('MASK_PW') | upper }}", SECRET.upper()),
        ("{{ secret('MASK_PW').upper() }}", SECRET.upper()),
        ("{{ secret('MASK_PW') | title }}", "Opensesame-hunter42"),  # Pebble's title
        ("{{ secret('MASK_PW') | base64encode }}", base64.b64encode(SECRET.encode()).decode()),
        ("{{ secret('MASK_PW') | reverse }}", SECRET[::-1]),
        ("{{ '%s!' % secret('MASK_PW') }}", SECRET + "!"),
        ("{{ '{}!'.format(secret('MASK_PW')) }}", SECRET + "!"),
        ("{% set s = secret('MASK_PW') %}{{ s | lower | trim }}", SECRET),
        # Jinja's filters that return generators: the next filter still sees the marks
        ("{{ secret('MASK_PW') | list | reverse | join }}", SECRET[::-1]),
        ("{{ secret('MASK_PW') | list | map('upper') | join }}", SECRET.upper()),
        ("{{ secret('MASK_PW') | list | unique | join }}", "".join(dict.fromkeys(SECRET))),
        ("{% for c in secret('MASK_PW') | list | reverse %}{{ c }}{% endfor %}", SECRET[::-1]),
        # blocks whose output Jinja joins itself
        ("{% set s %}{{ secret('MASK_PW') }}{% endset %}{{ s | upper }}", SECRET.upper()),
        ("{% filter upper %}{{ secret('MASK_PW') }}{% endfilter %}", SECRET.upper()),
        ("{% macro m() %}{{ secret('MASK_PW') }}{% endmacro %}{{ m() | trim }}", SECRET),
    ],
)
def test_a_value_derived_from_a_secret_renders_in_clear_but_shows_masked(template, clear):
    rendered = render(template, {})

    assert rendered == clear  # used for real...
    assert isinstance(rendered, SecretText)
    assert shown_form(rendered) == MASK  # ...stored and shown masked
    assert repr(rendered) == repr(MASK)  # an error message quoting it with !r too


def test_concatenation_masks_only_the_secret_part() -> None:
    for template in (
        "Bearer {{ secret('MASK_PW') }}",
        "{{ 'Bearer ' ~ secret('MASK_PW') }}",
        "{{ 'Bearer ' + secret('MASK_PW') }}",
    ):
        rendered = render(template, {})
        assert rendered == f"Bearer {SECRET}"
        assert shown_form(rendered) == f"Bearer {MASK}"


def test_a_list_of_the_secret_letters_is_masked_item_by_item() -> None:
    letters = evaluate("{{ secret('MASK_PW') | list }}", {})
    parts = evaluate("{{ secret('MASK_PW') | split('-') }}", {})

    assert letters == list(SECRET)
    assert shown_form(letters) == [MASK] * len(SECRET)
    assert shown_form(parts) == [MASK, MASK]
    printed = render("{{ secret('MASK_PW') | list }}", {})
    assert leaks(shown_form(printed)) == []


def test_numbers_and_plain_text_stay_unmarked() -> None:
    assert not isinstance(render("{{ secret('MASK_PW') | length }}", {}), SecretText)
    assert render("{{ 'visible' | upper }}", {}) == "VISIBLE"
    assert not isinstance(render("{{ 'visible' | upper }}", {}), SecretText)


def test_derived_forms_are_handed_to_the_log_masker() -> None:
    """A task that logs a derived value without the mark (a plugin formatting it) is still
    masked: the worker's masker learned the exact texts the render derived."""
    io_ = SeenIO()
    render("{{ secret('MASK_PW') | list | join(' ') }}", {"_trellis": io_})
    render("{{ secret('MASK_PW') | replace('-', '+') }}", {"_trellis": io_})

    assert {" ".join(SECRET), SECRET.replace("-", "+"), SECRET} <= set(io_.seen)
    # single letters are not: masking every "o" in a log would hide everything
    assert all(len(value) >= 4 for value in io_.seen)


def test_a_parse_error_on_a_secret_quotes_it_masked() -> None:
    """An If or Switch on a secret that is not a number/JSON: the error the executor logs."""
    for template in (
        "{{ secret('MASK_PW') | number }}",
        "{{ secret('MASK_PW') | replace('-', '+') | number }}",
        "{{ secret('MASK_PW') | fromJson }}",
    ):
        with pytest.raises(ExpressionError) as caught:
            evaluate(template, {})
        assert leaks(str(caught.value)) == [], str(caught.value)
        assert MASK in str(caught.value)


@pytest.mark.django_db
def test_sealed_values_open_to_marked_text_and_show_as_the_mask() -> None:
    marked = {"a": SecretText(SECRET), "b": ["plain", SecretText(" ".join(SECRET))]}

    stored = seal(marked)

    assert leaks(json.dumps(stored)) == []
    assert stored["a"].startswith(SEAL_PREFIX)
    assert stored["b"][0] == "plain"
    assert seal(marked) == stored  # deterministic: a loop finds its children again
    assert unseal(stored) == {"a": SECRET, "b": ["plain", " ".join(SECRET)]}
    assert isinstance(unseal(stored)["a"], SecretText)
    assert shown(stored) == {"a": MASK, "b": ["plain", MASK]}
    assert seal({"plain": "x"}) == {"plain": "x"}
    # a SECRET input sealed at rest is shown as the mask, never as its ciphertext
    assert shown_inputs({"pw": seal_secret(SECRET), "n": 3}) == {"pw": MASK, "n": 3}
    assert fragments(unseal(seal_value(SECRET))) == {SECRET}  # opened: marked again


# ------------------------------------------------------------------ stored and shown forms


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No message leaves this process: the test plays executor and worker."""
    monkeypatch.setattr(dispatch, "send", lambda *args, **kwargs: None)
    snapshot_cache.forget_all()


def drive() -> None:
    """Advance every unfinished execution and run the attempts it queued, until none moves
    (subflows included: a child is an execution of its own)."""
    for _ in range(200):
        moved = False
        for execution_id in Execution.objects.exclude(state__in=TERMINAL).values_list(
            "id", flat=True
        ):
            before = Execution.objects.get(pk=execution_id).version
            advance_execution(execution_id)
            queued = TaskRunAttempt.objects.filter(execution_id=execution_id, state=State.QUEUED)
            for attempt_id in list(queued.values_list("pk", flat=True)):
                run_attempt(attempt_id)
                moved = True
            moved = moved or Execution.objects.get(pk=execution_id).version != before
        if not moved:
            return
    raise AssertionError("the executions did not settle")


def deploy(body: str, flow_id: str) -> Any:
    return flow_deploy(source=f"id: {flow_id}\nnamespace: {NS}\n{body}").flow


def run_flow(body: str, flow_id: str, **create: Any) -> Execution:
    execution = execution_create(flow=deploy(body, flow_id), **create)
    drive()
    return Execution.objects.get(pk=execution.pk)


def stored_leaks() -> list[tuple[str, str]]:
    return [(table, cell[:100]) for table, cell in every_cell() if leaks(cell)]


def logs(execution: Execution) -> list[str]:
    return list(LogEntry.objects.filter(execution=execution).values_list("message", flat=True))


def served(execution: Execution, user: Any) -> str:
    """Every way the execution is shown: API document and search, CLI show and JSON, the
    admin page (which draws the Gantt chart)."""
    api = APIClient()
    api.force_authenticate(user)
    texts = [api.get(f"/api/v1/executions/{execution.id}").content.decode()]
    texts.append(api.get("/api/v1/executions/search", {"namespace": NS}).content.decode())
    texts.append(api.get(f"/api/v1/logs/{execution.id}").content.decode())
    out = io.StringIO()
    call_command("execution", "show", execution.id, stdout=out, stderr=io.StringIO())
    texts.append(out.getvalue())
    texts.append(json.dumps(execution_json(execution, logs=True)))
    if user.is_superuser:
        from django.test import Client

        client = Client()
        client.force_login(user)
        page = client.get(reverse("admin:executions_execution_change", args=[execution.id]))
        assert page.status_code == 200
        texts.append(page.content.decode())
    return "\n".join(texts)


db = pytest.mark.django_db(transaction=True)


@db
def test_labels_set_from_a_secret_are_masked_everywhere(quiet, superuser) -> None:
    done = run_flow(
        "tasks:\n"
        "  - id: set\n    type: io.kestra.plugin.core.execution.Labels\n    labels:\n"
        "      pw: \"{{ secret('MASK_PW') }}\"\n"
        "      spaced: \"{{ secret('MASK_PW') | list | join(' ') }}\"\n"
        "      bearer: \"Bearer {{ secret('MASK_PW') }}\"\n"
        "      plain: visible\n",
        "labels",
    )

    assert done.state == State.SUCCESS, logs(done)
    assert {k: done.labels[k] for k in ("pw", "spaced", "bearer", "plain")} == {
        "pw": MASK, "spaced": MASK, "bearer": f"Bearer {MASK}", "plain": "visible",
    }  # fmt: skip
    assert stored_leaks() == []
    text = served(done, superuser)
    assert leaks(text) == []
    assert f'"value": "{MASK}"' in text or f'"value":"{MASK}"' in text


@db
def test_a_foreach_over_a_secret_stores_and_shows_its_values_masked(quiet, superuser) -> None:
    done = run_flow(
        "tasks:\n"
        "  - id: each\n    type: io.kestra.plugin.core.flow.ForEach\n"
        "    values: \"{{ secret('MASK_PW') | split('-') }}\"\n"
        "    tasks:\n"
        "      - id: size\n        type: io.kestra.plugin.core.debug.Return\n"
        "        format: '{{ taskrun.value | length }}'\n"
        "      - id: say\n        type: io.kestra.plugin.core.log.Log\n"
        "        message: 'value {{ taskrun.value }}'\n",
        "each",
    )

    assert done.state == State.SUCCESS, logs(done)
    sizes = TaskRun.objects.filter(execution=done, task_id="size").order_by("seq")
    # the loop used the clear values: their lengths...
    assert [run.outputs["value"] for run in sizes] == [str(len(p)) for p in PARTS]
    # ...but stores them sealed, and shows them masked
    assert all(run.value.startswith(SEAL_PREFIX) for run in sizes)
    assert logs(done).count(f"value {MASK}") == 2
    assert stored_leaks() == []
    text = served(done, superuser)
    assert leaks(text) == []
    assert f"size[{MASK}]" in text  # the CLI tree and the admin's Gantt label


@db
def test_a_subflow_input_set_from_a_secret_is_sealed_in_the_child(quiet, superuser) -> None:
    deploy(
        "inputs:\n  - id: pw\n    type: STRING\n"
        "tasks:\n  - id: size\n    type: io.kestra.plugin.core.debug.Return\n"
        "    format: '{{ inputs.pw | length }}'\n"
        "  - id: say\n    type: io.kestra.plugin.core.log.Log\n"
        "    message: 'child got {{ inputs.pw }}'\n",
        "child",
    )
    parent = run_flow(
        "tasks:\n  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n"
        f"    namespace: {NS}\n    flowId: child\n    inputs:\n"
        "      pw: \"{{ secret('MASK_PW') }}\"\n",
        "parent",
    )
    child = Execution.objects.get(parent_execution=parent)

    assert (parent.state, child.state) == (State.SUCCESS, State.SUCCESS), logs(child)
    assert TaskRun.objects.get(execution=child, task_id="size").outputs == {
        "value": str(len(SECRET))
    }
    assert child.inputs["pw"].startswith(SEAL_PREFIX)
    assert f"child got {MASK}" in logs(child)
    assert stored_leaks() == []
    assert leaks(served(child, superuser)) == []
    api = APIClient()
    api.force_authenticate(superuser)
    assert api.get(f"/api/v1/executions/{child.id}").json()["inputs"] == {"pw": MASK}


@db
def test_if_and_switch_on_a_secret_log_their_errors_masked(quiet, superuser) -> None:
    done = run_flow(
        "tasks:\n"
        "  - id: guard\n    type: io.kestra.plugin.core.flow.AllowFailure\n    tasks:\n"
        "      - id: check\n        type: io.kestra.plugin.core.flow.If\n"
        "        condition: \"{{ secret('MASK_PW') | replace('-', '+') | number > 3 }}\"\n"
        "        then:\n          - id: never\n            type: io.kestra.plugin.core.log.Log\n"
        "            message: never\n"
        "  - id: pick\n    type: io.kestra.plugin.core.flow.Switch\n"
        "    value: \"{{ secret('MASK_PW') | upper }}\"\n"
        "    cases:\n      nothing:\n        - id: no\n"
        "          type: io.kestra.plugin.core.log.Log\n          message: no\n",
        "branches",
    )

    assert done.state == State.FAILED
    errors = [m for m in logs(done) if "parse" in m or "no case" in m]
    assert len(errors) >= 2, logs(done)
    assert all(MASK in message for message in errors), errors
    assert leaks("\n".join(logs(done))) == []
    assert stored_leaks() == []
    assert leaks(served(done, superuser)) == []


@db
def test_a_return_of_a_secret_input_is_masked_for_a_read_only_user(
    quiet, superuser, django_user_model
) -> None:
    done = run_flow(
        "inputs:\n  - id: pw\n    type: SECRET\n"
        "tasks:\n"
        "  - id: ret\n    type: io.kestra.plugin.core.debug.Return\n"
        "    format: '{{ inputs.pw }}'\n"
        "  - id: b64\n    type: io.kestra.plugin.core.debug.Return\n"
        "    format: '{{ inputs.pw | base64encode }}'\n"
        "  - id: size\n    type: io.kestra.plugin.core.debug.Return\n"
        "    format: '{{ outputs.ret.value | length }}'\n"
        "outputs:\n  - id: out\n    type: STRING\n    value: '{{ outputs.ret.value }}'\n",
        "ret",
        inputs={"pw": SECRET},
    )
    reader = django_user_model.objects.create_user(username="reader")
    NamespaceGrant.objects.create(user=reader, namespace=NS, permission="read")
    api = APIClient()
    api.force_authenticate(reader)

    assert done.state == State.SUCCESS, logs(done)
    # a later task still reads the returned value in clear
    assert TaskRun.objects.get(execution=done, task_id="size").outputs == {
        "value": str(len(SECRET))
    }
    assert stored_leaks() == []
    document = api.get(f"/api/v1/executions/{done.id}")
    assert document.status_code == 200
    assert document.json()["inputs"] == {"pw": MASK}
    assert document.json()["outputs"] == {"out": MASK}
    outputs = {r["taskId"]: r["outputs"] for r in document.json()["taskRunList"]}
    assert outputs["ret"] == {"value": MASK}
    assert outputs["b64"] == {"value": MASK}
    assert leaks(served(done, reader)) == []
    assert leaks(served(done, superuser)) == []


@db
def test_a_webhook_returning_outputs_masks_them_for_the_anonymous_caller(
    quiet, monkeypatch
) -> None:
    from triggers.api import views

    deploy(
        "tasks:\n  - id: ret\n    type: io.kestra.plugin.core.debug.Return\n"
        "    format: \"{{ secret('MASK_PW') | list | join(' ') }}\"\n"
        "outputs:\n  - id: out\n    type: STRING\n    value: '{{ outputs.ret.value }}'\n"
        "  - id: hint\n    type: STRING\n    value: 'pw={{ secret(\"MASK_PW\") }}'\n"
        "triggers:\n  - id: hook\n    type: io.kestra.plugin.core.trigger.Webhook\n"
        "    key: mask-key\n    wait: true\n    returnOutputs: true\n",
        "hooked",
    )

    def wait_here(execution_id: str, timeout: float) -> Execution:
        drive()
        return Execution.objects.get(pk=execution_id)

    monkeypatch.setattr(views, "execution_wait", wait_here)

    response = APIClient().post(f"/api/v1/executions/webhook/{NS}/hooked/mask-key")

    assert response.status_code == 200, response.content
    # a flow output is sealed whole at rest, so even its plain part shows masked
    assert response.json() == {"out": MASK, "hint": MASK}
    assert leaks(response.content.decode()) == []
    assert stored_leaks() == []


# ------------------------------------------------------------------ on real workers

#: The workers' secret (tests/integration/harness.py) and what the flow below derives.
WORKER_SECRET = "hunter2-secret"
WORKER_FORMS = (
    WORKER_SECRET,
    WORKER_SECRET.upper(),
    " ".join(WORKER_SECRET),
    WORKER_SECRET[1:8],
    WORKER_SECRET.replace("-", "_"),
    base64.b64encode(WORKER_SECRET.encode()).decode(),
    "hunter2",
    json.dumps(list(WORKER_SECRET), separators=(",", ":")),
)
EVERYWHERE = """
id: everywhere
namespace: t.mask
inputs:
  - id: token
    type: SECRET
tasks:
  - id: tag
    type: io.kestra.plugin.core.execution.Labels
    labels:
      joined: "{{ secret('DB_PASSWORD') | list | join(' ') }}"
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ secret('DB_PASSWORD') | split('-') }}"
    tasks:
      - id: part
        type: io.kestra.plugin.core.log.Log
        message: "part {{ taskrun.value }} of {{ taskrun.value | length }}"
  - id: say
    type: io.kestra.plugin.core.log.Log
    message:
      - "join {{ secret('DB_PASSWORD') | list | join(' ') }}"
      - "list {{ secret('DB_PASSWORD') | list }}"
      - "slice {{ secret('DB_PASSWORD')[1:8] }}"
      - "replace {{ secret('DB_PASSWORD') | replace('-', '_') }}"
      - "{{ 'concat ' ~ (secret('DB_PASSWORD') | upper) }}"
      - "b64 {{ secret('DB_PASSWORD') | base64encode }}"
      - "input {{ inputs.token | list | join(' ') }}"
  - id: ret
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.token }}"
outputs:
  - id: out
    type: STRING
    value: "{{ outputs.ret.value }}"
"""


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_on_real_workers_nothing_derived_from_a_secret_is_stored_or_served(workers, superuser):
    from executions.services import execution_wait

    flow = flow_deploy(source=EVERYWHERE).flow
    started = execution_create(flow=flow, inputs={"token": WORKER_SECRET})
    done = execution_wait(started.id, timeout=90)

    messages = logs(done)
    assert done.state == State.SUCCESS, messages
    for expected in (
        f"part {MASK} of 7",
        f"part {MASK} of 6",
        f"join {MASK}",
        "list " + json.dumps([MASK] * len(WORKER_SECRET), separators=(",", ":")),
        f"slice {MASK}",
        f"replace {MASK}",
        f"concat {MASK}",
        f"b64 {MASK}",
        f"input {MASK}",
    ):
        assert expected in messages, messages
    assert done.labels["joined"] == MASK
    found = [
        (table, cell[:100])
        for table, cell in every_cell()
        if any(form in cell for form in WORKER_FORMS)
    ]
    assert found == []
    text = served(done, superuser)
    assert [form for form in WORKER_FORMS if form in text] == []


@pytest.mark.django_db
def test_a_secret_input_is_masked_in_the_answer_of_validate_and_of_a_run(superuser) -> None:
    deploy("inputs:\n  - id: pw\n    type: SECRET\ntasks:\n  - id: a\n"
           "    type: io.kestra.plugin.core.log.Log\n    message: hi\n", "check")  # fmt: skip
    api = APIClient()
    api.force_authenticate(superuser)

    checked = api.post(f"/api/v1/executions/{NS}/check/validate", {"pw": SECRET}, format="json")
    started = api.post(f"/api/v1/executions/{NS}/check", {"pw": SECRET}, format="json")

    assert checked.status_code == 200, checked.content
    assert checked.json()["inputs"] == {"pw": MASK}
    assert started.status_code == 200, started.content
    assert started.json()["inputs"] == {"pw": MASK}
    stored = Execution.objects.get(pk=started.json()["id"]).inputs["pw"]
    assert SECRET not in stored  # sealed at rest


@db
def test_a_flow_trigger_passes_a_sealed_output_on_still_sealed(quiet, superuser) -> None:
    """Outputs sealed at rest reach a Flow trigger's `trigger.outputs` opened (usable), and
    the downstream execution stores what it derives from them sealed again."""
    deploy(
        "inputs:\n  - id: got\n    type: STRING\n"
        "tasks:\n  - id: size\n    type: io.kestra.plugin.core.debug.Return\n"
        "    format: '{{ inputs.got | length }}-{{ trigger.outputs.out | length }}'\n"
        "triggers:\n  - id: after\n    type: io.kestra.plugin.core.trigger.Flow\n"
        "    inputs:\n      got: '{{ outputs.ret.value | upper }}'\n"
        "    conditions:\n      - type: io.kestra.plugin.core.condition.ExecutionFlow\n"
        f"        namespace: {NS}\n        flowId: upstream\n",
        "downstream",
    )
    run_flow(
        "tasks:\n  - id: ret\n    type: io.kestra.plugin.core.debug.Return\n"
        "    format: \"{{ secret('MASK_PW') }}\"\n"
        "outputs:\n  - id: out\n    type: STRING\n    value: '{{ outputs.ret.value }}'\n",
        "upstream",
    )
    drive()
    downstream = Execution.objects.get(flow_id="downstream")

    assert downstream.state == State.SUCCESS, logs(downstream)
    assert TaskRun.objects.get(execution=downstream, task_id="size").outputs == {
        "value": f"{len(SECRET)}-{len(SECRET)}"
    }
    assert downstream.inputs["got"].startswith(SEAL_PREFIX)
    assert stored_leaks() == []
    assert leaks(served(downstream, superuser)) == []
