"""docker/compose.yaml and the Kubernetes example hold what production needs. No docker
daemon or cluster here: compose is read as YAML and checked key by key; the Kubernetes
manifests go through kubernetes-validate, offline, against the Kubernetes schemas."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
K8S = ROOT / "docker" / "k8s"
ROLES = {"web": "web", "executor": "executor", "worker": "worker", "beat": "scheduler"}


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_compose_has_the_services(services):
    assert {"postgres", "redis", "migrate", "flower", *ROLES} <= set(services)


def test_every_role_runs_the_trellis_command_of_its_role(services):
    for name, role in ROLES.items():
        assert services[name]["command"][:3] == ["trellis", "server", role], name
    assert services["migrate"]["command"][:2] == ["trellis", "migrate"]


def test_every_long_running_service_has_a_health_check_and_a_restart_policy(services):
    for name in ("postgres", "redis", *ROLES):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] in {"unless-stopped", "always", "on-failure"}, name
    assert services["web"]["healthcheck"]["test"][1:4] == ["trellis", "health", "--url"]
    assert services["web"]["healthcheck"]["test"][-1].endswith("/health/ready")
    for name in ("executor", "worker", "beat"):
        assert services[name]["healthcheck"]["test"] == ["CMD", "trellis", "health"]
    assert services["migrate"]["restart"] == "no"  # a one-shot job


def test_roles_wait_for_a_successful_migration_and_healthy_services(services):
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ROLES:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_secrets_come_from_an_env_file_not_from_defaults(services):
    text = COMPOSE.read_text()
    assert "change-me" not in text.lower()
    assert "SECRET_KEY" not in text
    for name in ("migrate", *ROLES):
        assert services[name]["env_file"] == ["trellis.env"], name
        assert services[name]["environment"]["DEBUG"] == "false", name
    example = (ROOT / "docker" / "trellis.env.example").read_text()
    for key in ("SECRET_KEY=", "TRELLIS_ENCRYPTION_KEY=", "ALLOWED_HOSTS=", "DATABASE_URL="):
        assert key in example
    assert "docker/trellis.env" in (ROOT / ".gitignore").read_text()


def test_flower_is_an_optional_profile_and_workers_send_events(services):
    assert services["flower"]["profiles"] == ["flower"]
    assert "flower" in services["flower"]["command"]
    assert services["worker"]["environment"]["TRELLIS_TASK_EVENTS"] == "true"
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]  # not open to the network
    assert "FLOWER_BASIC_AUTH=" in (ROOT / "docker" / "trellis.env.example").read_text()


def test_task_events_setting_reaches_the_celery_app():
    code = "from orchestrator.celery import app; print(app.conf.worker_send_task_events)"
    env = {**os.environ, "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0", "TRELLIS_ENV_FILE": ""}
    shown = [
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env={**env, "TRELLIS_TASK_EVENTS": flag}, timeout=60).stdout.strip()
        for flag in ("true", "false")
    ]  # fmt: skip
    assert shown == ["True", "False"]


def test_the_first_admin_user_is_documented():
    assert "trellis createsuperuser" in COMPOSE.read_text()


# --- Kubernetes ---------------------------------------------------------------------------


def manifests() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "kubernetes-validate"
    if not tool.exists() and shutil.which("kubernetes-validate") is None:
        pytest.skip("kubernetes-validate is not installed (pip install -e '.[dev]')")
    return subprocess.run(
        [str(tool) if tool.exists() else "kubernetes-validate", "--strict",
         *map(str, paths)], capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_every_manifest_passes_the_kubernetes_schemas():
    paths = sorted(K8S.glob("*.yaml"))
    done = validate(*paths)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed") == len(manifests())


def test_the_validator_rejects_a_broken_manifest(tmp_path):
    broken = (K8S / "web.yaml").read_text().replace("containerPort: 8000", "containerPort: web")
    (tmp_path / "web.yaml").write_text(broken)

    assert validate(tmp_path / "web.yaml").returncode != 0


def by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


def test_a_deployment_per_role_and_a_worker_group():
    deployments = by_kind("Deployment")
    commands = {name: d["spec"]["template"]["spec"]["containers"][0]["command"]
                for name, d in deployments.items()}  # fmt: skip
    for role in ROLES.values():
        assert any(c[:3] == ["trellis", "server", role] for c in commands.values()), role
    groups = [c for c in commands.values() if any(q.startswith("wg.") for q in c)]
    assert groups, "no worker group Deployment"
    assert deployments["trellis-beat"]["spec"]["replicas"] == 1
    assert deployments["trellis-beat"]["spec"]["strategy"]["type"] == "Recreate"


def test_migrations_run_as_a_job():
    (job,) = by_kind("Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][:2] == [
        "trellis", "migrate"
    ]  # fmt: skip


def test_probes_use_the_health_endpoints_and_command():
    for name, deployment in by_kind("Deployment").items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        if name == "trellis-web":
            assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
            assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        else:
            assert container["livenessProbe"]["exec"]["command"] == ["trellis", "health"]
        sources = {next(iter(s)) for s in container["envFrom"]}
        assert sources == {"configMapRef", "secretRef"}, name
    assert by_kind("ConfigMap")
    assert by_kind("Secret")


def test_the_image_installs_the_wheel_and_collects_static_files():
    """The Dockerfile copies no source folder into the final image: what runs is the wheel
    that tests/unit/test_packaging.py and .ci/wheel-check check."""
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    final = dockerfile.split("\nFROM ")[-1]

    assert "pip wheel" in dockerfile
    assert "trellis-*.whl" in final
    assert "trellis collectstatic" in final
    assert not [line for line in final.splitlines() if line.startswith("COPY ") and
                "--from=build" not in line and "constraints.txt" not in line]  # fmt: skip
    assert '"trellis", "server", "web"' in final
