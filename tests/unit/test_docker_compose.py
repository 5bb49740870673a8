"""docker-compose.yml: valid for Debian's docker-compose v1 (offline `config`), the stack's services
are all there, Superset can only read the warehouse, and no secret is written into the file.

No Docker engine is needed: `docker-compose config` validates and resolves the file offline. A
missing docker-compose is a failure, not a skip, so that CI cannot pass without checking the file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / "docker" / ".env.example"

AIRFLOW_SERVICES = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker")
SERVICES = ("postgres", "redis", *AIRFLOW_SERVICES, "superset-init", "superset")
DATA_HOME = "/opt/citypeers/var"
SERVING_DB = f"{DATA_HOME}/warehouse/citypeers.duckdb"

REQUIRED_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*):\?[^}]*\}")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|FERNET|TOKEN|(^|_)KEY$", re.IGNORECASE)
URL_CREDENTIALS = re.compile(r"://[^/@\s:]+:([^@\s]*)@")


def _required_variables() -> list[str]:
    return sorted(set(REQUIRED_VARIABLE.findall(COMPOSE_FILE.read_text(encoding="utf-8"))))


def _sentinel(name: str) -> str:
    return f"sentinel-{name.lower().replace('_', '-')}"


def _docker_compose(*args: str, secrets: bool = True) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("docker-compose")
    if executable is None:
        pytest.fail("docker-compose not found: apt-get install docker-compose "
                    "(Debian's v1 validates the file offline)")
    env = {key: value for key, value in os.environ.items() if key not in _required_variables()}
    if secrets:
        env.update({name: _sentinel(name) for name in _required_variables()})
    return subprocess.run([executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def resolved() -> dict:
    """The file as docker-compose resolves it (anchors merged, variables filled with sentinels)."""
    result = _docker_compose("-f", "docker-compose.yml", "config")
    if result.returncode != 0:
        pytest.fail(f"docker-compose config failed:\n{result.stderr}")
    return yaml.safe_load(result.stdout)


def _mounts(service: dict) -> dict[str, tuple[str, str]]:
    """target -> (source, mode) for the short and the long volume syntax."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            mounts[target] = (source, mode[0] if mode else "rw")
        else:
            mounts[volume["target"]] = (volume.get("source", ""), "ro" if volume.get("read_only") else "rw")
    return mounts


def _environment(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def test_compose_file_passes_docker_compose_v1_validation():
    result = _docker_compose("-f", "docker-compose.yml", "config", "-q")
    assert result.returncode == 0, f"docker-compose -f docker-compose.yml config -q failed:\n{result.stderr}"


def test_compose_refuses_to_run_without_the_secrets_from_the_env_file(tmp_path):
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    result = _docker_compose("--env-file", str(empty_env_file), "-f", "docker-compose.yml", "config", "-q",
                             secrets=False)
    assert result.returncode != 0
    assert "in docker/.env" in result.stderr, result.stderr


def test_every_required_variable_is_documented_and_left_empty_in_the_env_example():
    documented = dict(line.split("=", 1) for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
                      if re.match(r"^[A-Z][A-Z0-9_]*=", line))
    required = _required_variables()
    assert required, "docker-compose.yml requires no variable: where do the secrets come from?"
    missing = set(required) - set(documented)
    assert not missing, f"required by docker-compose.yml but not in docker/.env.example: {sorted(missing)}"
    assert {name: documented[name] for name in required if documented[name].strip()} == {}, \
        "docker/.env.example must not ship a value for a secret"


def test_generated_env_file_satisfies_every_required_variable(tmp_path):
    env_file = tmp_path / "generated.env"
    subprocess.run(["python3", str(REPO_ROOT / "docker" / "generate_env.py"), "--output", str(env_file)],
                   check=True, capture_output=True, text=True)
    assert env_file.stat().st_mode & 0o077 == 0, "the generated env file must be private (0600)"
    result = _docker_compose("--env-file", str(env_file), "-f", "docker-compose.yml", "config", "-q",
                             secrets=False)
    assert result.returncode == 0, result.stderr


def test_stack_has_every_service(resolved):
    assert set(SERVICES) <= set(resolved["services"]), sorted(resolved["services"])


def test_long_running_services_have_healthchecks_and_wait_for_their_dependencies(resolved):
    services = resolved["services"]
    for name in set(SERVICES) - {"airflow-init", "superset-init"}:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in set(AIRFLOW_SERVICES) - {"airflow-init"}:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    superset_waits_for = services["superset"]["depends_on"]
    assert superset_waits_for["superset-init"]["condition"] == "service_completed_successfully"
    assert services["superset-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_airflow_services_share_code_data_execution_api_and_telemetry_off(resolved):
    for name in AIRFLOW_SERVICES:
        service = resolved["services"][name]
        environment, mounts = _environment(service), _mounts(service)
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert environment["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
        assert environment["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://airflow:")
        assert environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert environment["AIRFLOW__USAGE_DATA_COLLECTION__ENABLED"] == "False"
        assert environment["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
        assert environment["DO_NOT_TRACK"] == "1"
        assert environment["CITYPEERS_HOME"] == DATA_HOME
        assert mounts[DATA_HOME] == ("citypeers-data", "rw"), f"{name}: {mounts}"
        for part in ("dags", "dbt_project", "expectations", "feeds.yml"):
            source, _ = mounts[f"/opt/citypeers/app/{part}"]
            assert Path(source) == REPO_ROOT / part, f"{name} mounts {source} at {part}"
        assert service["build"]["dockerfile"] == "docker/airflow/Dockerfile"


def test_celery_workers_are_replicated_take_both_queues_and_wait_for_the_broker(resolved):
    services = resolved["services"]
    worker = services["airflow-worker"]
    assert worker["deploy"]["replicas"] >= 2
    command = " ".join(worker["command"])
    assert "airflow celery worker --queues ingest,transform" in command
    assert "container_name" not in worker, "a fixed container name prevents replicas"
    assert not worker.get("ports"), "a published port prevents replicas"
    for name in set(AIRFLOW_SERVICES) - {"airflow-init"}:
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]


def test_superset_mounts_the_warehouse_read_only_and_imports_the_serving_file(resolved):
    for name in ("superset", "superset-init"):
        service = resolved["services"][name]
        mounts = _mounts(service)
        assert mounts[DATA_HOME] == ("citypeers-data", "ro"), f"{name} must mount the data volume read-only"
        writable = [target for target, (_, mode) in mounts.items()
                    if mode != "ro" and (target == DATA_HOME or target.startswith(DATA_HOME + "/"))]
        assert writable == [], f"{name} can write below {DATA_HOME}: {writable}"
        assert _environment(service)["CITYPEERS_SERVING_DB"] == SERVING_DB
        assert Path(mounts["/opt/citypeers/app/dashboards"][0]) == REPO_ROOT / "dashboards"
    assert resolved["services"]["superset"]["command"][0] == "gunicorn"


def test_no_service_carries_a_literal_secret():
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    offenders = []
    for name, service in raw["services"].items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
        for key, value in environment.items():
            value = "" if value is None else str(value)
            secret_named = SECRET_NAME.search(key) and not re.search(r"_(FILE|PATH|DIR)$", key)
            if secret_named and value and not REQUIRED_VARIABLE.fullmatch(value):
                offenders.append(f"{name}: {key}={value}")
            for password in URL_CREDENTIALS.findall(value):
                if not REQUIRED_VARIABLE.fullmatch(password):
                    offenders.append(f"{name}: {key} has a password in its URL")
        command = service.get("command") or ""
        command = " ".join(map(str, command)) if isinstance(command, list) else str(command)
        if re.search(r"--password[= ]+(?!\"?\$)", command):
            offenders.append(f"{name}: a password on its command line")
    assert offenders == [], "secrets must come from docker/.env (${VAR:?...}):\n" + "\n".join(offenders)


def test_resolved_secrets_are_exactly_the_env_file_values(resolved):
    """Guards the check above against a secret hidden in a setting whose name looks harmless."""
    sentinels = {_sentinel(name) for name in _required_variables()}
    for name, service in resolved["services"].items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key) and not re.search(r"_(FILE|PATH|DIR)$", key):
                assert value in sentinels, f"{name}: {key} is not taken from docker/.env"
            for password in URL_CREDENTIALS.findall(value):
                assert password in sentinels, f"{name}: {key} has a password that is not from docker/.env"


def test_images_bake_in_no_secret():
    for dockerfile in (REPO_ROOT / "docker").rglob("Dockerfile"):
        for line in dockerfile.read_text(encoding="utf-8").splitlines():
            if re.match(r"\s*(ENV|ARG)\b", line):
                assert not SECRET_NAME.search(line), f"{dockerfile}: {line.strip()}"
