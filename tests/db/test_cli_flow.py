"""``manage.py flow|namespace|template``: messages (call_command) and exit codes (subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from flows.models import Flow
from flows.selectors import flow_get
from flows.services import flow_delete, flow_deploy
from tests.conftest import flow_yaml

ROOT = Path(__file__).resolve().parents[2]
BAD = "id: broken\nnamespace: company.team\ntasks:\n  - id: t\n"  # no type


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args: str) -> tuple[str, CommandError]:
    out = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue(), excinfo.value


def manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRELLIS_HOME": str(tmp_path / "home")}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


@pytest.fixture
def files(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "one.yaml").write_text(flow_yaml("one"))
    (good / "two.yaml").write_text(flow_yaml("two", "company.team.sub"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "one.yaml").write_text(flow_yaml("one", message="changed"))
    (bad / "broken.yaml").write_text(BAD)
    return tmp_path


def test_validate_reports_problems_with_file_line_col(files):
    out, err = run_failing("flow", "validate", str(files / "bad"), str(files / "missing.yaml"))

    lines = out.splitlines()
    assert err.returncode == 1
    assert any(line.startswith(f"{files / 'bad' / 'broken.yaml'}:") for line in lines)
    assert f"{files / 'missing.yaml'}:1:1: no such file or folder" in lines
    assert str(err).endswith("in 2 file(s)")


def test_validate_accepts_valid_files(files):
    out, _ = run("flow", "validate", str(files / "good"))

    assert out == "2 flow(s) valid\n"


@pytest.mark.django_db
def test_deploy_prints_namespace_id_revision(files):
    out, _ = run("flow", "deploy", str(files / "good"))
    assert out.splitlines() == [
        "company.team one revision 1 (created)",
        "company.team.sub two revision 1 (created)",
    ]

    (files / "good" / "one.yaml").write_text(flow_yaml("one", message="v2"))
    out, _ = run("flow", "deploy", str(files / "good"))
    assert out.splitlines() == [
        "company.team one revision 2 (updated)",
        "company.team.sub two revision 1 (unchanged)",
    ]


@pytest.mark.django_db
def test_deploy_with_a_bad_file_deploys_nothing(files):
    out, err = run_failing("flow", "deploy", str(files / "bad"))

    assert err.returncode == 1
    assert str(err).startswith("nothing deployed: ")
    assert out.startswith(f"{files / 'bad' / 'broken.yaml'}:")
    assert Flow.objects.count() == 0


@pytest.mark.django_db
def test_deploy_delete_missing_in_namespace(files):
    flow_deploy(source=flow_yaml("old", "company.team.sub"))
    flow_deploy(source=flow_yaml("elsewhere", "company.teams"))

    out, _ = run(
        "flow", "deploy", str(files / "good"), "--namespace", "company.team", "--delete-missing"
    )

    assert out.splitlines()[-1] == "company.team.sub old revision 2 (deleted)"
    assert sorted(Flow.objects.live().values_list("flow_id", flat=True)) == [
        "elsewhere",
        "one",
        "two",
    ]


@pytest.mark.django_db
def test_export_writes_sources_byte_for_byte_and_round_trips(tmp_path):
    source = "# comment\r\n" + flow_yaml("crlf").replace("\n", "\r\n")
    flow_deploy(source=source)
    flow_deploy(source=flow_yaml("nested", "company.team.sub"))
    flow_deploy(source=flow_yaml("outside", "company.teams"))

    out, _ = run("flow", "export", "company.team", "--dir", str(tmp_path / "export"))

    written = tmp_path / "export" / "company.team" / "crlf.yaml"
    assert out.splitlines() == [
        str(written),
        str(tmp_path / "export" / "company.team.sub" / "nested.yaml"),
    ]
    assert written.read_bytes() == source.encode()
    out, _ = run("flow", "deploy", str(tmp_path / "export"))
    assert out.splitlines() == [
        "company.team crlf revision 1 (unchanged)",
        "company.team.sub nested revision 1 (unchanged)",
    ]


@pytest.mark.django_db
def test_export_to_stdout_and_unknown_namespace():
    flow_deploy(source=flow_yaml("a"))
    flow_deploy(source=flow_yaml("b"))

    out, _ = run("flow", "export", "company")

    assert out == flow_yaml("a") + "---\n" + flow_yaml("b")
    _, err = run_failing("flow", "export", "nope")
    assert (str(err), err.returncode) == ("no flows in namespace 'nope'", 1)


@pytest.mark.django_db
def test_revisions_and_diff(superuser):
    flow = flow_deploy(source=flow_yaml(message="v1"), author=superuser).flow
    flow_deploy(source=flow_yaml(message="v2"))
    flow_delete(flow=flow)

    out, _ = run("flow", "revisions", "company.team", "hello")
    rows = [line.split() for line in out.splitlines()]
    assert [(r[0], r[2:]) for r in rows] == [("3", ["-", "deleted"]), ("2", ["-"]), ("1", ["root"])]

    out, _ = run("flow", "diff", "company.team", "hello", "1", "2")
    assert "-    message: v1\n+    message: v2\n" in out
    _, err = run_failing("flow", "diff", "company.team", "hello", "1", "9")
    assert str(err) == "flow company.team.hello has no revision 9"


@pytest.mark.django_db
def test_enable_disable_delete():
    flow_deploy(source=flow_yaml())

    assert run("flow", "disable", "company.team", "hello")[0] == "company.team.hello disabled\n"
    assert flow_get("company.team", "hello").disabled is True
    assert run("flow", "enable", "company.team", "hello")[0] == "company.team.hello enabled\n"
    assert flow_get("company.team", "hello").disabled is False
    out, _ = run("flow", "delete", "company.team", "hello")
    assert out == "company.team.hello deleted (revision 2)\n"
    _, err = run_failing("flow", "delete", "company.team", "hello")
    assert (str(err), err.returncode) == ("no flow 'hello' in namespace 'company.team'", 1)


@pytest.mark.django_db
def test_namespace_tree():
    flow_deploy(source=flow_yaml("one", "a.b"))
    flow_deploy(source=flow_yaml("two", "a.b.c"))

    out, _ = run("namespace", "tree")

    assert out.splitlines() == [
        "a  (0 flows, 2 in total)",
        "  a.b  (1 flow, 2 in total)",
        "    a.b.c  (1 flow, 1 in total)",
    ]


def test_exit_codes_from_the_command_line(files, tmp_path):
    ok = manage(tmp_path, "flow", "validate", str(files / "good"))
    invalid = manage(tmp_path, "flow", "validate", str(files / "bad"))
    usage = manage(tmp_path, "flow", "no-such-subcommand")
    missing = manage(tmp_path, "flow")

    assert (ok.returncode, ok.stdout) == (0, "2 flow(s) valid\n"), ok.stderr
    assert invalid.returncode == 1, invalid.stderr
    assert invalid.stdout.startswith(f"{files / 'bad' / 'broken.yaml'}:")
    assert "Traceback" not in invalid.stderr
    assert usage.returncode == 2
    assert "invalid choice: 'no-such-subcommand'" in usage.stderr
    assert missing.returncode == 2


def test_another_app_can_add_a_subcommand(settings, monkeypatch):
    import types

    module = types.ModuleType("fake_app_cli_hello")

    def register(subparsers) -> None:
        parser = subparsers.add_parser("hello", help="say hello")
        parser.add_argument("name")
        parser.set_defaults(handler=lambda command, options: command.stdout.write(options["name"]))

    module.register = register
    monkeypatch.setitem(sys.modules, "fake_app_cli_hello", module)
    settings.TRELLIS_FLOW_CLI_MODULES = ["fake_app_cli_hello"]

    assert run("flow", "hello", "Ada")[0] == "Ada\n"
