"""No failed reads and no stale answers while publishing: dashboards keep answering while the
warehouse is replaced, and never from the previous build once a new one is published.

Chart-data requests go to Superset in a loop (``force``, so every one reaches DuckDB rather than
Superset's cache) while the real transform DAG (dbt build, GX gate, atomic publish) runs three
times under ``airflow dags test``. Every request must succeed, and the serving file must really
have been replaced three times (a new inode per publish: the rename is atomic).

Between them, a request that may be answered from Superset's data cache asks for a value every
publish changes (dim_feed.registry_read_at, when the build read feeds.yml): its answers never go
back in time, and after the last publish it answers the last build's value, as a forced request
does, not the one it cached before the publishes.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from citypeers.dashboard_check import api_headers, chart_data_payloads, dataset_ids
from tests.e2e.pipeline import environment
from tests.e2e.superset_fixture import ARTIFACTS_DIR, SupersetServer

pytestmark = pytest.mark.e2e


PUBLISH_RUNS = ("2026-02-01", "2026-02-02", "2026-02-03")
PUBLISH_SCRIPT = """
import sys
from datetime import datetime
from citypeers.dag_runs import dags_test
for day in sys.argv[1:]:
    dags_test("transform__warehouse", datetime.fromisoformat(day + "T00:00:00+00:00"))
    print("published", day, flush=True)
"""


def build_read_at_payload(context, base: str, force: bool) -> dict:
    """When the published build read feeds.yml: a different value after every publish."""
    return {
        "datasource": {"id": dataset_ids(context, base)["dim_feed"], "type": "table"},
        "force": force,
        "queries": [{"columns": [], "metrics": [{"expressionType": "SQL", "sqlExpression": "MAX(registry_read_at)",
                                                 "label": "registry_read_at"}],
                     "row_limit": 10, "filters": [], "orderby": []}],
        "result_format": "json",
        "result_type": "full",
    }


def build_read_at(context, base: str, headers: dict[str, str], payload: dict) -> object:
    response = context.request.post(f"{base}/api/v1/chart/data", headers=headers, data=json.dumps(payload))
    assert response.ok, f"HTTP {response.status} {response.text()[:300]}"
    (row,) = response.json()["result"][0]["data"]
    return row["registry_read_at"]


def test_every_chart_request_succeeds_while_the_transform_publishes_three_times(
    admin_context, superset_server: SupersetServer, published_home: Path
):
    base = superset_server.url
    payloads = chart_data_payloads(admin_context, base)
    headers = api_headers(admin_context, base)
    cached = build_read_at_payload(admin_context, base, force=False)
    before_publishing = build_read_at(admin_context, base, headers, cached)
    assert build_read_at(admin_context, base, headers, cached) == before_publishing  # now in the cache
    serving = published_home / "warehouse" / "citypeers.duckdb"
    first_inode = serving.stat().st_ino
    inodes = {first_inode}
    log_file = published_home / "publishing_test_airflow.log"
    env = environment(published_home, published_home / "feeds.yml")
    publisher = subprocess.Popen(
        [sys.executable, "-c", PUBLISH_SCRIPT, *PUBLISH_RUNS],
        env=env, stdout=log_file.open("w"), stderr=subprocess.STDOUT,
    )
    requests, failures, latencies, read_at_answers = 0, [], [], []
    try:
        deadline = time.monotonic() + 3600
        while publisher.poll() is None:
            assert time.monotonic() < deadline, "the three transform runs took over an hour"
            for payload in payloads:
                started = time.monotonic()
                response = admin_context.request.post(f"{base}/api/v1/chart/data", headers=headers,
                                                      data=json.dumps(payload))
                latencies.append(time.monotonic() - started)
                requests += 1
                rows = response.json()["result"][0]["data"] if response.ok else []
                if not response.ok or not rows:
                    failures.append(f"{payload['datasource']}: HTTP {response.status} {response.text()[:300]}")
                inodes.add(serving.stat().st_ino)
            response = admin_context.request.post(f"{base}/api/v1/chart/data", headers=headers,
                                                  data=json.dumps(cached))
            requests += 1
            rows = response.json()["result"][0]["data"] if response.ok else []
            if rows:
                read_at_answers.append(rows[0]["registry_read_at"])
            else:
                failures.append(f"dim_feed (cached): HTTP {response.status} {response.text()[:300]}")
    finally:
        if publisher.poll() is None:
            publisher.kill()
        publisher.wait(timeout=60)
    summary = {
        "requests": requests,
        "failures": len(failures),
        "publishes": len(inodes) - 1,
        "p50_ms": round(1000 * sorted(latencies)[len(latencies) // 2]) if latencies else None,
        "max_ms": round(1000 * max(latencies)) if latencies else None,
    }
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS_DIR / "publishing_reads.json").write_text(json.dumps(summary, indent=2))
    print(f"chart-data requests while publishing: {summary}")
    assert publisher.returncode == 0, log_file.read_text()[-4000:]
    assert serving.stat().st_ino != first_inode
    assert len(inodes) - 1 == len(PUBLISH_RUNS), f"saw {len(inodes) - 1} publishes, expected {len(PUBLISH_RUNS)}"
    assert requests >= 50, f"only {requests} requests were made while publishing"
    assert failures == [], f"{len(failures)} of {requests} requests failed: {failures[:5]}"
    went_back = [(earlier, later) for earlier, later in itertools.pairwise(read_at_answers) if later < earlier]
    assert went_back == [], f"a cached answer from an earlier build came after a later one: {went_back[:3]}"
    after_publishing = build_read_at(admin_context, base, headers, cached)
    forced = build_read_at_payload(admin_context, base, force=True)
    assert after_publishing == build_read_at(admin_context, base, headers, forced)
    assert after_publishing != before_publishing, "the data cache answered from the build before the publishes"
