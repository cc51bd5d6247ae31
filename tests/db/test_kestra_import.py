"""``manage.py import-kestra``: a Kestra export judged per file, the accepted part deployed
(issue 8)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from flows.kestra_import import ACCEPTED, DEPRECATED, UNSUPPORTED, kestra_import
from flows.models import Flow
from templates.models import Template

pytestmark = pytest.mark.django_db

PLAIN = """id: plain
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
"""
OLD = """id: old
namespace: company.team
tasks:
  - id: loop
    type: io.kestra.core.tasks.flows.EachSequential
    value: ["a", "b"]
    tasks:
      - id: each
        type: io.kestra.core.tasks.log.Log
        message: "{{ taskrun.value }}"
"""
UNKNOWN = """id: jdbc
namespace: company.team
tasks:
  - id: query
    type: io.kestra.plugin.gcp.bigquery.Query
    sql: select 1
"""
TEMPLATE = """id: common
namespace: company.team
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: from the template
"""


@pytest.fixture
def export(tmp_path: Path) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "templates").mkdir()
    (tmp_path / "flows" / "company.team.plain.yml").write_text(PLAIN)
    (tmp_path / "flows" / "company.team.old.yml").write_text(OLD)
    (tmp_path / "flows" / "company.team.jdbc.yml").write_text(UNKNOWN)
    (tmp_path / "templates" / "company.team.common.yml").write_text(TEMPLATE)
    return tmp_path


def test_each_file_is_judged_and_the_accepted_ones_are_deployed(export: Path) -> None:
    report = kestra_import([export])

    by_file = {Path(f.filename).name: f for f in report.files}
    assert by_file["company.team.plain.yml"].status == ACCEPTED
    old = by_file["company.team.old.yml"]
    assert old.status == DEPRECATED
    assert "EachSequential' is deprecated" in str(old.warnings[0])
    assert old.warnings[0].line == 5
    jdbc = by_file["company.team.jdbc.yml"]
    assert jdbc.status == UNSUPPORTED
    assert "unknown type 'io.kestra.plugin.gcp.bigquery.Query'" in str(jdbc.problems[0])
    assert jdbc.problems[0].line == 5
    assert by_file["company.team.common.yml"].kind == "template"
    assert report.deployed
    assert sorted(Flow.objects.values_list("flow_id", flat=True)) == ["old", "plain"]
    assert Template.objects.get().template_id == "common"


def test_dry_run_and_strict_change_nothing(export: Path) -> None:
    assert not kestra_import([export], dry_run=True).deployed
    assert not kestra_import([export], strict=True).deployed
    assert not Flow.objects.exists()
    assert not Template.objects.exists()


def test_a_zip_export_is_read_like_a_folder(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("company.team.plain.yml", PLAIN)

    report = kestra_import([archive])

    assert [f.status for f in report.files] == [ACCEPTED]
    assert report.files[0].filename.endswith("export.zip!company.team.plain.yml")
    assert Flow.objects.get().flow_id == "plain"


def test_the_same_flow_in_two_files_is_refused_once(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(PLAIN)
    (tmp_path / "b.yml").write_text(PLAIN.replace("hi", "hello"))

    report = kestra_import([tmp_path])

    assert [f.status for f in report.files] == [ACCEPTED, UNSUPPORTED]
    assert "also in" in str(report.files[1].problems[0])


def test_the_command_reports_per_file_and_fails_when_a_file_is_refused(export, capsys) -> None:
    with pytest.raises(CommandError, match="1 file\\(s\\) not supported"):
        call_command("import-kestra", str(export))
    out = capsys.readouterr().out

    assert "accepted     company.team.plain" in out
    assert "deprecated   company.team.old" in out
    assert "unsupported  -" in out
    assert ":5:11: unknown type 'io.kestra.plugin.gcp.bigquery.Query'" in out
    assert "2 accepted as is, 1 accepted with deprecations, 1 not supported; deployed." in out


def test_flow_deploy_from_kestra_judges_each_file_like_import_kestra(export, capsys) -> None:
    with pytest.raises(CommandError, match="1 file\\(s\\) not supported"):
        call_command("flow", "deploy", "--from-kestra", str(export))
    out = capsys.readouterr().out

    assert "deprecated   company.team.old" in out
    assert "2 accepted as is, 1 accepted with deprecations, 1 not supported; deployed." in out
    assert sorted(Flow.objects.values_list("flow_id", flat=True)) == ["old", "plain"]


def test_from_kestra_refuses_the_plain_deploy_options(export) -> None:
    with pytest.raises(CommandError, match="--from-kestra takes no --namespace"):
        call_command("flow", "deploy", "--from-kestra", "--namespace", "company", str(export))
    assert not Flow.objects.exists()
