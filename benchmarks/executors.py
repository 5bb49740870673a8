"""Scale-out on one machine: a tier's other-domain feeds (every feed but air and GTFS, every indicator
year) ingested by a running Airflow on the LocalExecutor, then on 1 and 2 Celery workers
(scripts/celery_stack.sh), each on a fresh home over the same feed files.

    python benchmarks/run.py --executors M     # make bench BENCH_EXECUTORS=M

Each run triggers every feed's DAG for every year through the REST API at once and waits for all of
them; the figure is that wall time (the stack's start and stop are timed apart). Prints figures,
asserts nothing about speed.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.tiers import TIERS, Tier, domain_feed_ids, write_tier
from tests.e2e.pipeline import airflow_stack, environment

from citypeers.airflow_api import trigger_and_wait
from citypeers.registry import get_feed

EXECUTORS = {0: "LocalExecutor", 1: "CeleryExecutor, 1 worker", 2: "CeleryExecutor, 2 workers"}


def _run(label: str, workers: int, home: Path, tier: Tier, tier_home: Path, tier_env: dict[str, str]) -> dict:
    """One executor on its own home (its `feeds/` the tier's files): the wall time of every run."""
    (home / "feeds").symlink_to(tier_home / "feeds", target_is_directory=True)
    env = environment(home, tier_home / "feeds.yml") | tier_env
    started = time.perf_counter()
    with airflow_stack(env, workers) as api:
        start_seconds = time.perf_counter() - started
        dag_ids = [f"ingest__{get_feed(feed_id, tier_home / 'feeds.yml').source}__{feed_id}"
                   for feed_id in domain_feed_ids(tier)]
        api.wait_for_dags(dag_ids)
        started = time.perf_counter()
        runs = trigger_and_wait(api, dag_ids, [datetime(year + 1, 1, 1, tzinfo=UTC) for year in tier.years],
                                timeout=7200)
        seconds = time.perf_counter() - started
        instances = [instance for run in runs for instance in api.task_instances(run)]
    hosts = Counter(instance["hostname"].split("@")[0] for instance in instances)
    task_seconds = sum((datetime.fromisoformat(i["end_date"]) - datetime.fromisoformat(i["start_date"])).total_seconds()
                       for i in instances if i["start_date"] and i["end_date"])
    # from queued (the scheduler's part done) to started (a worker free and its process up)
    waits = [(datetime.fromisoformat(i["start_date"]) - datetime.fromisoformat(i["queued_when"])).total_seconds()
             for i in instances if i.get("queued_when") and i["start_date"]]
    parsed = sorted(path.relative_to(home) for path in (home / "parsed").rglob("*.parquet"))
    figures = {"executor": label, "celery_workers": workers, "dag_runs": len(runs),
               "task_instances": len(instances), "seconds": round(seconds, 1), "task_seconds": round(task_seconds, 1),
               "stack_start_seconds": round(start_seconds, 1), "tasks_by_host": dict(hosts),
               "queued_to_start_p50_seconds": round(statistics.median(waits), 1) if waits else None,
               "queued_to_start_max_seconds": round(max(waits), 1) if waits else None,
               "parsed_files": len(parsed)}
    print(f"{label:<30}{figures['seconds']:>9.1f} s  {len(runs)} DAG runs, {len(instances)} tasks "
          f"({figures['task_seconds']:.0f} s of task time; by host {dict(hosts)}; queued to started p50 "
          f"{figures['queued_to_start_p50_seconds']} s, max {figures['queued_to_start_max_seconds']} s); "
          f"{len(parsed)} parsed files",
          flush=True)
    return figures


def compare_executors(name: str, workers: tuple[int, ...] = (0, 1, 2)) -> dict:
    """The tier's other domains on each executor (0 Celery workers: the LocalExecutor); the figures, and
    each's time over the first one's."""
    tier = TIERS[name]
    with tempfile.TemporaryDirectory(prefix=f"citypeers-bench-executors-{name}-") as folder:
        tier_home = Path(folder) / "tier"
        tier_home.mkdir()
        started = time.perf_counter()
        tier_env = write_tier(tier, tier_home, air=False)
        # The DAGs start at the tier's first year (a run before a DAG's start_date runs no task).
        feeds_file = tier_home / "feeds.yml"
        feeds_file.write_text(feeds_file.read_text(encoding="utf-8").replace(
            'schedule: "@yearly"', f'schedule: "@yearly"\n    start_date: "{tier.years[0]}-01-01"'), encoding="utf-8")
        print(f"tier {name} without air: {len(domain_feed_ids(tier))} feeds x {len(tier.years)} years written in "
              f"{time.perf_counter() - started:.1f} s; ingested by a running Airflow (REST API triggers):", flush=True)
        results = []
        for count in workers:
            home = Path(folder) / f"home_{count}"
            home.mkdir()
            results.append(_run(EXECUTORS[count], count, home, tier, tier_home, tier_env))
    first = results[0]["seconds"]
    for result in results:
        result[f"over_{results[0]['celery_workers']}_workers"] = round(result["seconds"] / first, 2)
    print("  " + ", ".join(f"{result['executor']}: {result['seconds'] / first:.2f}x {results[0]['executor']}'s time"
                           for result in results[1:]))
    return {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "tier": name,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "feeds": len(domain_feed_ids(tier)), "years": len(tier.years), "runs": results}
