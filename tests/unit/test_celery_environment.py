"""The CeleryExecutor's environment (scripts/celery_stack.sh, make demo-celery)."""

from __future__ import annotations

from citypeers import runtime_env


def test_celery_environment_points_airflow_at_redis_and_postgres_on_the_given_ports(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYPEERS_REDIS_PORT", "16379")
    monkeypatch.setenv("CITYPEERS_PG_PORT", "15433")
    env = runtime_env.scheduler_environment(tmp_path)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:16379/0"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://airflow@127.0.0.1:15433/airflow"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://airflow@127.0.0.1:15433/airflow"
    # everything else as on the LocalExecutor: same home, DAGs, telemetry off
    local = runtime_env.stack_environment(tmp_path)
    assert {key: env[key] for key in local if not key.startswith(("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE"))} \
        == {key: value for key, value in local.items()
            if not key.startswith(("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE"))}


def test_the_local_scheduler_uses_the_stacks_postgres_and_no_celery(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYPEERS_PG_PORT", "15433")
    env = runtime_env.scheduler_environment(tmp_path, executor="local")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://airflow@127.0.0.1:15433/airflow"
    assert env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] == "False"
    assert not [key for key in env if "CELERY" in key]


def test_the_local_environment_stays_on_the_local_executor(tmp_path):
    exports = runtime_env.shell_exports(tmp_path)
    assert "export AIRFLOW__CORE__EXECUTOR='LocalExecutor'" in exports
    assert "CELERY" not in exports
    assert "export AIRFLOW__CORE__EXECUTOR='CeleryExecutor'" in runtime_env.shell_exports(tmp_path, "celery")


def test_each_celery_worker_records_its_own_name_as_the_task_hostname(monkeypatch):
    monkeypatch.setenv("CITYPEERS_WORKER_NAME", "worker2@host")
    assert runtime_env.worker_hostname() == "worker2@host"
    monkeypatch.delenv("CITYPEERS_WORKER_NAME")
    assert runtime_env.worker_hostname() and "@" not in runtime_env.worker_hostname()
