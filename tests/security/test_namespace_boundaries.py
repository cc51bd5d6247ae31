"""Issue 21, "close the holes": namespace boundaries that hold against flows, the eval
endpoint and webhook key visibility.

Each attack of the issue is reproduced as written — a flow of ``attacker.ns`` reaching into
``victim.ns`` through ``kv()``, ``read()``, the kv tasks, ``namespaceFiles``, a Subflow, a
ForEachItem and a Flow trigger; an execute-only user asking the eval endpoint for another
namespace's KV and for secrets; a read-only user reading a webhook's key — and each test
asserts the attacker's side effect is absent. The last tests show that an allowed-namespaces
entry does open the way, and that the policy is managed with clear refusals.
"""

from __future__ import annotations

import base64
import io
import threading
import zipfile

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from executions.models import Execution, LogEntry, TaskRun
from executions.runtime.advance import advance_execution
from executions.runtime.expr_io import ExecutionIO
from executions.runtime.subflow_items import start_item_subflows
from executions.services import execution_create
from executions.worker.run_context import AttemptLogger, WorkerContext
from flows.services import flow_deploy
from kernel.expressions.render import IO_KEY, ExpressionError, render
from kernel.secrets import Masker
from kernel.states import State
from kv.models import KVEntry
from kv.services import kv_get, kv_set
from namespaces.allowed import allowed_namespace_add
from namespaces.boundaries import BoundaryRefused
from namespaces.models import AllowedNamespace
from namespaces.services import nsfile_put
from plugins.core.flow.for_each_item import StartItemSubflows
from plugins.core.kv import Delete, Get, GetKeys, Set
from plugins.scripts.files import copy_namespace_files
from tests.db.api_support import grant
from triggers.models import TriggerFire
from triggers.services import on_execution_ended

pytestmark = pytest.mark.django_db

VICTIM, ATTACKER = "victim.ns", "attacker.ns"
REFUSED = "does not allow flows of namespace 'attacker.ns'"
WEBHOOK_KEY = "wh-key-5f1c9a7e2b"
RETURN = "io.kestra.plugin.core.debug.Return"


@pytest.fixture(autouse=True)
def _storage(tmp_path, settings) -> None:
    settings.MEDIA_ROOT = tmp_path / "storage"


@pytest.fixture
def victim_data() -> None:
    kv_set(VICTIM, "token", "victim-token")
    nsfile_put(namespace=VICTIM, path="/private/plan.txt", data=b"victim plan")


def attacker_render(text: str) -> str:
    """Render ``text`` as a task of an attacker.ns flow does (the worker's I/O object)."""
    context = {
        "flow": {"id": "thief", "namespace": ATTACKER},
        IO_KEY: ExecutionIO(ATTACKER, "thief", "e1"),
    }
    return render(text, context)


def attacker_context(tmp_path) -> WorkerContext:
    """The run context a worker builds for a task of an attacker.ns flow."""
    masker = Masker()
    return WorkerContext(
        execution_id="e1", task_run_id="r1", task_id="t", attempt=1, namespace=ATTACKER,
        flow_id="thief", variables=dict, logger=AttemptLogger("e1", "r1", "t", 1, masker),
        masker=masker, stop=threading.Event(),
    )  # fmt: skip


def victim_unchanged() -> None:
    assert list(KVEntry.objects.values_list("namespace", "key", "value")) == [
        (VICTIM, "token", "victim-token")
    ]


# ------------------------------------------------------------------- kv(), read(), kv tasks


@pytest.mark.parametrize(
    "expression",
    [
        "{{ kv('token', 'victim.ns') }}",
        "{{ kv('token', namespace='victim.ns', errorOnMissing=true) }}",
        "{{ read('private/plan.txt', 'victim.ns') }}",
        "{{ read('nsfile://victim.ns/private/plan.txt') }}",
    ],
)
def test_kv_and_read_functions_do_not_reach_another_namespace(victim_data, expression) -> None:
    with pytest.raises(ExpressionError, match=REFUSED) as refused:
        attacker_render(expression)

    assert "victim-token" not in str(refused.value)
    assert "victim plan" not in str(refused.value)
    victim_unchanged()


@pytest.mark.parametrize(
    ("task", "props"),
    [
        (Set, {"key": "token", "value": "pwned", "namespace": VICTIM}),
        (Set, {"key": "planted", "value": "pwned", "namespace": VICTIM}),
        (Get, {"key": "token", "namespace": VICTIM}),
        (GetKeys, {"namespace": VICTIM}),
        (Delete, {"key": "token", "namespace": VICTIM}),
    ],
)
def test_kv_tasks_do_not_write_read_or_delete_another_namespace(
    victim_data, tmp_path, task, props
) -> None:
    with pytest.raises(BoundaryRefused, match=REFUSED):
        task().run(props, attacker_context(tmp_path))

    victim_unchanged()


def test_script_namespace_files_do_not_copy_another_namespace(victim_data, tmp_path) -> None:
    ctx = attacker_context(tmp_path)

    with pytest.raises(BoundaryRefused, match=REFUSED):
        copy_namespace_files(ctx, {"enabled": True, "namespaces": [VICTIM]})

    assert not list(ctx.working_dir.rglob("*"))
    ctx.cleanup()


def test_a_flow_still_reaches_its_own_tree(tmp_path) -> None:
    kv_set("attacker", "shared", "from the parent")
    ctx = attacker_context(tmp_path)

    Set().run({"key": "mine", "value": 1}, ctx)
    Set().run({"key": "child", "value": 2, "namespace": "attacker.ns.sub"}, ctx)

    assert attacker_render("{{ kv('shared', 'attacker') }}") == "from the parent"
    assert kv_get(ATTACKER, "mine") == 1
    assert kv_get("attacker.ns.sub", "child") == 2


# ------------------------------------------------------------- Subflow, ForEachItem, Resume

VICTIM_FLOW = f"""id: payroll
namespace: {VICTIM}
outputs:
  - id: salaries
    type: STRING
    value: "{{{{ outputs.only.value }}}}"
tasks:
  - id: only
    type: {RETURN}
    format: secret salaries
"""
CALLER = f"""id: caller
namespace: {ATTACKER}
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: {VICTIM}
    flowId: payroll
"""


def advanced(execution: Execution, times: int = 4) -> Execution:
    for _ in range(times):  # the executor, in process (its messages go nowhere here)
        advance_execution(execution.id)
    return Execution.objects.get(pk=execution.pk)


def test_a_subflow_does_not_start_a_flow_of_another_namespace() -> None:
    flow_deploy(source=VICTIM_FLOW)
    caller = flow_deploy(source=CALLER)

    parent = advanced(execution_create(flow=caller.flow))

    assert not Execution.objects.filter(namespace=VICTIM).exists()
    call = TaskRun.objects.get(execution=parent, task_id="call")
    assert call.state == State.FAILED
    assert "executionId" not in (call.outputs or {})
    assert parent.state == State.FAILED
    log = LogEntry.objects.get(task_run_id=call.id, level="ERROR").message
    assert "cannot start subflow victim.ns.payroll" in log
    assert REFUSED in log
    [warning] = [w.message for w in caller.warnings if "will fail" in w.message]
    assert "task 'call' will fail: namespace 'victim.ns' does not allow" in warning


def test_for_each_item_does_not_start_a_flow_of_another_namespace() -> None:
    flow_deploy(source=VICTIM_FLOW)
    parent = execution_create(flow=flow_deploy(source=CALLER).flow)
    run = TaskRun.objects.create(execution=parent, task_id="call", state=State.RUNNING, seq=1)

    start_item_subflows(parent, StartItemSubflows(
        task_run_id=run.id, namespace=VICTIM, flow_id="payroll", split_task_id="split",
    ))  # fmt: skip

    assert not Execution.objects.filter(namespace=VICTIM).exists()
    assert TaskRun.objects.get(pk=run.pk).state == State.FAILED
    assert REFUSED in LogEntry.objects.get(task_run_id=run.id).message


def test_the_resume_task_does_not_resume_an_execution_of_another_namespace() -> None:
    from executions.runtime.subflows import resume_other
    from kernel.engine.plan import ResumeExecution

    paused = execution_create(flow=flow_deploy(source=VICTIM_FLOW).flow)
    Execution.objects.filter(pk=paused.pk).update(state=State.PAUSED)
    parent = execution_create(flow=flow_deploy(source=CALLER).flow)
    run = TaskRun.objects.create(execution=parent, task_id="call", state=State.RUNNING, seq=1)

    resume_other(ResumeExecution(task_run_id=run.id, execution_id=paused.id))

    assert Execution.objects.get(pk=paused.pk).state == State.PAUSED
    assert TaskRun.objects.get(pk=run.pk).state == State.FAILED


# ------------------------------------------------------------------------- Flow triggers

LISTENER = f"""id: eavesdropper
namespace: {ATTACKER}
inputs:
  - id: stolen
    type: STRING
    required: false
tasks:
  - id: only
    type: {RETURN}
    format: "{{{{ inputs.stolen }}}}"
triggers:
  - id: on-payroll
    type: io.kestra.plugin.core.trigger.Flow
    inputs:
      stolen: "{{{{ trigger.outputs.salaries }}}}"
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: {VICTIM}
        flowId: payroll
"""


def ended_payroll() -> Execution:
    execution = execution_create(flow=flow_deploy(source=VICTIM_FLOW).flow)
    Execution.objects.filter(pk=execution.pk).update(
        state=State.SUCCESS, outputs={"salaries": "secret salaries"}
    )
    return Execution.objects.get(pk=execution.pk)


def test_a_flow_trigger_on_another_namespace_never_fires_and_deploy_says_why() -> None:
    deployed = flow_deploy(source=LISTENER)

    on_execution_ended(ended_payroll())

    assert not Execution.objects.filter(namespace=ATTACKER).exists()
    assert not TriggerFire.objects.exists()
    [warning] = [w.message for w in deployed.warnings if "never fire" in w.message]
    assert "namespace 'victim.ns' does not allow flows of 'attacker.ns'" in warning


def test_validating_a_flow_trigger_on_another_namespace_says_it_will_never_fire(superuser):
    client = APIClient()
    client.force_authenticate(superuser)

    [result] = client.post(
        "/api/v1/flows/validate", LISTENER, content_type="application/x-yaml"
    ).json()

    assert result["valid"] is True
    assert any("will never fire" in w["message"] for w in result["warnings"]), result


# ------------------------------------------------------------------------- eval endpoint


@pytest.fixture
def ran_attacker_flow():
    execution = execution_create(flow=flow_deploy(source=CALLER).flow)
    run = TaskRun.objects.create(execution=execution, task_id="call", state=State.SUCCESS, seq=1)
    return execution, run


def user_with(django_user_model, name: str, permission: str) -> APIClient:
    user = django_user_model.objects.create_user(username=name)
    grant(user, ATTACKER, permission)
    client = APIClient()
    client.force_authenticate(user)
    return client


def evaluate(client: APIClient, execution, run, text: str):
    url = f"/api/v1/executions/{execution.id}/eval/{run.id}"
    return client.post(url, text, content_type="text/plain")


@pytest.mark.parametrize(
    "expression",
    ["{{ kv('token', 'victim.ns') }}", "{{ read('private/plan.txt', 'victim.ns') }}",
     "{{ secret('payroll_db') | join(' ') }}"],
)  # fmt: skip
def test_eval_refuses_an_execute_only_user(
    victim_data, ran_attacker_flow, django_user_model, monkeypatch, expression
) -> None:
    monkeypatch.setenv("SECRET_PAYROLL_DB", base64.b64encode(b"db-pass-9931").decode())
    client = user_with(django_user_model, "runner", "execute")

    answer = evaluate(client, *ran_attacker_flow, expression)

    assert answer.status_code == 403
    for leaked in (b"victim-token", b"victim plan", b"db-pass-9931", b"d b - p a s s"):
        assert leaked not in answer.content


def test_eval_never_reveals_a_secret_or_crosses_the_boundary_even_for_a_writer(
    victim_data, ran_attacker_flow, django_user_model, monkeypatch
) -> None:
    monkeypatch.setenv("SECRET_PAYROLL_DB", base64.b64encode(b"db-pass-9931").decode())
    client = user_with(django_user_model, "author", "write")

    spelled = evaluate(client, *ran_attacker_flow, "{{ secret('payroll_db') | join(' ') }}")
    crossed = evaluate(client, *ran_attacker_flow, "{{ kv('token', 'victim.ns') }}")

    assert spelled.status_code == 200
    assert spelled.json()["result"] is None
    assert "secret() is not available" in spelled.json()["error"]
    assert crossed.json()["result"] is None
    assert REFUSED in crossed.json()["error"]
    for leaked in (b"victim-token", b"db-pass-9931", b"d b - p a s s"):
        assert leaked not in spelled.content + crossed.content


def test_eval_does_not_spell_out_a_secret_input(django_user_model) -> None:
    source = CALLER.replace("tasks:", "inputs:\n  - id: pw\n    type: SECRET\ntasks:", 1)
    execution = execution_create(flow=flow_deploy(source=source).flow, inputs={"pw": "hunter2-pw"})
    run = TaskRun.objects.create(execution=execution, task_id="call", state=State.SUCCESS, seq=1)
    client = user_with(django_user_model, "author", "write")

    answer = evaluate(client, execution, run, "{{ inputs.pw | list | reverse | join('.') }}")

    assert answer.status_code == 200
    assert answer.json()["result"] == "*.*.*.*.*.*.*.*"
    assert b"h.u.n" not in answer.content
    assert b"w.p.-" not in answer.content


# --------------------------------------------------------------------------- webhook keys

HOOKED = f"""id: hooked
namespace: {ATTACKER}
tasks:
  - id: only
    type: {RETURN}
    format: hi
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: {WEBHOOK_KEY}
"""


def reader_responses(client: APIClient, flow) -> dict[str, bytes]:
    base = f"/api/v1/flows/{ATTACKER}/hooked"
    answers = {
        "flow": client.get(f"{base}?source=true"),
        "revision": client.get(f"{base}?source=true&revision=1"),
        "revisions": client.get(f"{base}/revisions"),
        "diff": client.get(f"{base}/revisions/diff?from=1&to=2"),
        "namespace flows": client.get(f"/api/v1/flows/{ATTACKER}"),
        "search": client.get(f"/api/v1/flows/search?namespace={ATTACKER}"),
        "triggers search": client.get(f"/api/v1/triggers/search?namespace={ATTACKER}"),
        "flow triggers": client.get(f"/api/v1/triggers/{ATTACKER}/hooked"),
        "trigger": client.get(f"/api/v1/triggers/{ATTACKER}/hooked/hook"),
    }
    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.content)
    bodies = {name: answer.content for name, answer in answers.items()}
    for name, url in (("export", f"/api/v1/flows/export/by-query?namespace={ATTACKER}"),):
        archive = zipfile.ZipFile(io.BytesIO(client.get(url).content))
        bodies[name] = b"".join(archive.read(n) for n in archive.namelist())
    return bodies


def test_a_read_only_user_never_sees_a_webhook_key(django_user_model) -> None:
    flow_deploy(source=HOOKED)
    flow = flow_deploy(source=HOOKED.replace("format: hi", "format: hello")).flow
    reader = user_with(django_user_model, "reader", "read")

    bodies = reader_responses(reader, flow)

    for name, body in bodies.items():
        assert WEBHOOK_KEY.encode() not in body, name
    assert b"key: '******'" in bodies["flow"] or b"key: ******" in bodies["flow"]
    # and what a reader saw does not start anything
    assert reader.post(f"/api/v1/executions/webhook/{ATTACKER}/hooked/******").status_code == 404
    assert not Execution.objects.exists()


def test_a_read_only_user_never_sees_a_webhook_key_in_the_admin(django_user_model) -> None:
    flow = flow_deploy(source=HOOKED).flow
    flow_deploy(source=HOOKED.replace("format: hi", "format: hello"))
    staff = django_user_model.objects.create_user(username="staff", is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_flow", "change_flow"])
    )
    grant(staff, ATTACKER, "read")
    from django.test import Client

    browser = Client()
    browser.force_login(staff)

    change = browser.get(f"/admin/flows/flow/{flow.pk}/change/")
    revision = browser.get(f"/admin/flows/flow/{flow.pk}/revisions/2/")

    assert change.status_code == revision.status_code == 200
    assert WEBHOOK_KEY.encode() not in change.content
    assert WEBHOOK_KEY.encode() not in revision.content
    assert b"********" in change.content


def test_a_writer_still_sees_the_webhook_key(django_user_model) -> None:
    flow_deploy(source=HOOKED)
    author = user_with(django_user_model, "author", "write")

    answer = author.get(f"/api/v1/flows/{ATTACKER}/hooked?source=true")
    trigger = author.get(f"/api/v1/triggers/{ATTACKER}/hooked/hook").json()

    assert WEBHOOK_KEY in answer.json()["source"]
    assert answer.json()["triggers"][0]["key"] == WEBHOOK_KEY
    assert trigger["abstractTrigger"]["key"] == WEBHOOK_KEY


# ------------------------------------------------------------- an allow-list entry opens it


def test_an_allowed_namespaces_entry_permits_each_way_in(victim_data, tmp_path) -> None:
    allowed_namespace_add(namespace=VICTIM, allowed=ATTACKER)
    ctx = attacker_context(tmp_path)

    read_kv = attacker_render("{{ kv('token', 'victim.ns') }}")
    read_file = attacker_render("{{ read('private/plan.txt', 'victim.ns') }}")
    Set().run({"key": "shared", "value": "hello", "namespace": VICTIM}, ctx)
    flow_deploy(source=VICTIM_FLOW)
    parent = advanced(execution_create(flow=flow_deploy(source=CALLER).flow))
    listener = flow_deploy(source=LISTENER)
    on_execution_ended(ended_payroll())

    assert (read_kv, read_file) == ("victim-token", "victim plan")
    assert kv_get(VICTIM, "shared") == "hello"
    child = Execution.objects.get(namespace=VICTIM, parent_execution_id=parent.id)
    assert child.flow_id == "payroll"
    [fired] = Execution.objects.filter(namespace=ATTACKER, flow_id="eavesdropper")
    assert fired.inputs == {"stolen": "secret salaries"}
    assert not [w for w in listener.warnings if "never fire" in w.message]
    assert not [w for w in flow_deploy(source=CALLER).warnings if "will fail" in w.message]


def test_an_entry_covers_the_namespaces_inside_both_sides(victim_data) -> None:
    allowed_namespace_add(namespace="victim", allowed="attacker")

    assert attacker_render("{{ kv('token', 'victim.ns') }}") == "victim-token"


# ------------------------------------------------------------------ managing the policy


def test_the_policy_api_validates_and_needs_write(django_user_model) -> None:
    grant_user = django_user_model.objects.create_user(username="owner")
    grant(grant_user, VICTIM, "write")
    owner = APIClient()
    owner.force_authenticate(grant_user)
    reader_user = django_user_model.objects.create_user(username="peek")
    grant(reader_user, VICTIM, "read")
    reader = APIClient()
    reader.force_authenticate(reader_user)
    url = f"/api/v1/namespaces/{VICTIM}/allowed-namespaces"

    bad = owner.put(url, {"allowedNamespaces": [{"namespace": ATTACKER}, {"namespace": "Bad NS"}]},
                    format="json")  # fmt: skip
    refused = reader.post(url, {"namespace": ATTACKER}, format="json")
    added = owner.post(url, {"namespace": ATTACKER}, format="json")
    shown = reader.get(url)

    assert bad.status_code == 422
    assert "'Bad NS' is not a namespace" in bad.json()["detail"]
    assert refused.status_code == 403
    assert added.status_code == 201
    assert shown.json()["allowedNamespaces"] == [{"namespace": ATTACKER}]
    assert list(AllowedNamespace.objects.values_list("namespace", "allowed")) == [
        (VICTIM, ATTACKER)
    ]
    assert owner.delete(f"{url}/{ATTACKER}").status_code == 204
    assert not AllowedNamespace.objects.exists()


def test_the_policy_cli(capsys) -> None:
    call_command("namespace", "allowed", "add", VICTIM, ATTACKER, "*")
    call_command("namespace", "allowed", "list", VICTIM)
    with pytest.raises(CommandError, match="'victim..bad' is not a namespace"):
        call_command("namespace", "allowed", "add", VICTIM, "partner", "victim..bad")
    call_command("namespace", "allowed", "remove", VICTIM, "*")

    out = capsys.readouterr().out
    assert "victim.ns: its own tree, and *, attacker.ns" in out
    assert list(AllowedNamespace.objects.values_list("allowed", flat=True)) == [ATTACKER]


def test_the_policy_admin_validates_and_needs_write(django_user_model) -> None:
    from django.contrib.auth.models import Permission
    from django.test import Client

    staff = django_user_model.objects.create_user(username="staff", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="namespaces"))
    grant(staff, VICTIM, "write")
    grant(staff, "elsewhere", "read")
    browser = Client()
    browser.force_login(staff)
    url = "/admin/namespaces/allowednamespace/add/"

    bad = browser.post(url, {"namespace": VICTIM, "allowed": "no spaces please"})
    not_mine = browser.post(url, {"namespace": "elsewhere", "allowed": ATTACKER})
    good = browser.post(url, {"namespace": VICTIM, "allowed": ATTACKER})

    assert "is not a namespace" in bad.content.decode()
    assert "you may not write in namespace &#x27;elsewhere&#x27;" in not_mine.content.decode()
    assert good.status_code == 302
    assert list(AllowedNamespace.objects.values_list("namespace", "allowed")) == [
        (VICTIM, ATTACKER)
    ]
