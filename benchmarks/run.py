"""citypeers benchmarks: prints figures, asserts nothing about speed.

    python benchmarks/run.py --tiers S M       # make bench BENCH_TIERS="S M"  (default: S)
    python benchmarks/run.py --tiers L         # make bench BENCH_TIERS=L

Tier S is the demo slice of tests/e2e/pipeline.py (6 cities, 3 years, every feed format); tier M
(benchmarks/tiers.py) is 1,000 synthetic cities with one EEA air station each, hourly PM2.5 and NO2
for a year (17.5 million readings, EEA CSV), every other domain's annual indicators for 10 years
(SDMX-CSV, wide table, indicator template, GBFS) and GTFS zips for 50 of the cities; tier
M-parquet the same with the readings as EEA Air Quality Download Service Parquet; tier L ten times
M's readings (the 1,000 cities over 2016-2025, 175 million readings, Parquet). For each tier, on a
fresh home:

* the air-quality marts three ways, from the same raw EEA files:
  - the pipeline through its CLI (ingest with the GX gate, dbt build, GX gate, publish),
  - the same under Airflow (``airflow dags test``: the ingest DAG per year, then the transform),
  - the floor (benchmarks/floor_air_quality.sql, one DuckDB script) and the pandas baseline
    (benchmarks/baselines.py), with the ratios pipeline/floor and pandas/pipeline;
* an incremental run: one new day of EEA readings ingested, then the build;
* at tier M, after the air-quality figures: ingest of the other domains' feeds (10 years), of the
  GTFS feeds (50 cities), then a full build with every domain, which the Superset step reads;
* p50/p95 of Superset chart-data requests on the published marts (scripts/superset.sh), on the same
  payloads with Superset's data cache bypassed (``force``: every request queries DuckDB; the goal's
  figure) and answered from it (after one pass that fills it);
* at tier S, ingest of one interval of every other demo feed format through the CLI;
* the time to render the city briefs (English and Spanish, HTML and PDF, `citypeers briefs`) of
  every city with data on the tier's last build (tier M: a sample of cities, extrapolated);
* the time to parse the whole DAG folder; and the performance issue's goals, met or missed by how much.

Every step runs as its own process tree; its wall time and peak memory (max RSS of the largest
process) are printed as a table and written to benchmarks/results/<timestamp>_<tier>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.executors import compare_executors  # noqa: E402
from benchmarks.tiers import GTFS_FEED, TIERS, Tier, domain_feed_ids, write_tier  # noqa: E402
from tests.e2e.pipeline import (  # noqa: E402  (reuses the e2e harness: same feeds, same server)
    BIN,
    E2E_YEARS,
    TIER_S_CITIES,
    environment,
    feeds_file_with_port,
    free_port,
    start_feed_server,
)

# Runs a command and prints the peak RSS of its process tree (the largest child), in kB.
MEASURE = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
           "print('maxrss_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
           "sys.exit(code)")
DAGBAG = ("import sys, time; from airflow.dag_processing.dagbag import DagBag; started = time.perf_counter(); "
          "bag = DagBag(dag_folder=sys.argv[1]); "
          "print(f'{time.perf_counter() - started:.3f} {len(bag.dags)} {len(bag.import_errors)}')")
SUPERSET_SH = REPO_ROOT / "scripts" / "superset.sh"
CHART_REQUESTS_PER_QUERY = 25
# The pandas baseline peaked at 10.7 GB for tier M's 17.5 million readings; tier L's ten times
# that would not fit in this machine's 24 GB, so it is skipped (and said so) above this.
PANDAS_MAX_READINGS = 20_000_000
# City briefs take seconds per city (charts and a PDF in two languages): the 1,000 cities of the
# larger tiers would take most of an hour on 2 cores, so those render a sample and extrapolate.
BRIEF_SAMPLE_CITIES = 50


class Bench:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.rows: list[dict] = []

    def step(self, label: str, *commands: list[str]) -> dict:
        """Run the commands one after the other; one row with their total time and peak memory."""
        started = time.perf_counter()
        peak_kb = 0
        for command in commands:
            done = subprocess.run([sys.executable, "-c", MEASURE, *command], env=self.env,
                                  capture_output=True, text=True, timeout=7200)
            if done.returncode != 0:
                raise SystemExit(f"{label}: {' '.join(command)} failed\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
            peak_kb = max(peak_kb, int(done.stderr.strip().splitlines()[-1].split()[-1]))
        row = {"step": label, "seconds": round(time.perf_counter() - started, 2), "peak_mb": round(peak_kb / 1024),
               "output": done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""}
        self.rows.append(row)
        print(f"{label:<58}{row['seconds']:>9.2f} s{row['peak_mb']:>8} MB", flush=True)
        return row


# The performance issue's goals (issue 16, set for tier M; at tier S fixed start-up costs dominate).
# The floor and the incremental day are tighter for Parquet input, which DuckDB reads typed and
# filters inside the scan.
def goal_table(air_format: str) -> tuple[tuple[str, str, str, float], ...]:
    parquet = air_format == "parquet"
    return (
        (f"pipeline (CLI) / floor, {air_format}", "pipeline_cli_over_floor", "<=", 1.5 if parquet else 2.0),
        ("pandas / pipeline (CLI)", "pandas_over_pipeline_cli", ">=", 3.0),
        (f"incremental day / full run, {air_format}", "incremental_over_full_run", "<=", 0.05 if parquet else 0.10),
        ("peak memory of a pipeline step (MB)", "pipeline_peak_mb", "<=", 2048),
        ("DAG folder parse (s)", "dag_folder_parse_seconds", "<=", 1.0),
        ("chart-data p95 (ms)", "p95_ms", "<=", 150.0),
        ("impact step, 100 practices (s)", "impact_estimate_seconds", "<=", 60.0),
    )


def goal_lines(measured: dict[str, float | None], air_format: str) -> list[dict]:
    lines = []
    for label, key, operator, target in goal_table(air_format):
        value = measured[key]
        if value is None:
            lines.append({"goal": f"{label} {operator} {target:g}", "measured": None, "met": None,
                          "missed_by": "not measured"})
            continue
        met = value <= target if operator == "<=" else value >= target
        factor = value / target if operator == "<=" else target / value
        lines.append({"goal": f"{label} {operator} {target:g}", "measured": value, "met": met,
                      "missed_by": None if met else f"{factor:.1f}x"})
    return lines


def slowest_dbt_nodes(env: dict[str, str], count: int = 6) -> list[dict]:
    """The dbt nodes that took longest in the last build (from its run_results.json), printed."""
    project = Path(env.get("CITYPEERS_DBT_PROJECT") or REPO_ROOT / "dbt_project")
    results = json.loads((project / "target" / "run_results.json").read_text(encoding="utf-8"))["results"]
    total = sum(node["execution_time"] for node in results)
    slowest = sorted(results, key=lambda node: node["execution_time"], reverse=True)[:count]
    nodes = [{"node": node["unique_id"].split(".", 1)[1], "seconds": round(node["execution_time"], 2)}
             for node in slowest]
    print(f"  dbt: {len(results)} nodes, {total:.1f} s in nodes; slowest: "
          + ", ".join(f"{node['node']} {node['seconds']:.1f} s" for node in nodes), flush=True)
    return nodes


def superset_chart_latencies(home: Path, env: dict[str, str]) -> dict:
    """p50/p95 of chart-data requests on the published marts through a real Superset, twice on the
    same payloads: cold (``force``: Superset's data cache bypassed, every request queries DuckDB)
    and warm (``force`` off, after one untimed pass that fills the data cache)."""
    from playwright.sync_api import sync_playwright

    from citypeers.dashboard_check import (
        cached_payloads,
        chart_data_payloads,
        launch_chromium,
        log_in,
        time_chart_requests,
    )

    port = free_port()
    superset_env = {key: value for key, value in env.items() if not key.startswith(("SUPERSET_", "FLASK_"))}
    superset_env |= {"CITYPEERS_HOME": str(home), "SUPERSET_PORT": str(port)}
    for command in ("bootstrap", "import", "start"):
        subprocess.run(["bash", str(SUPERSET_SH), command], env=superset_env, capture_output=True, check=True)
    url = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, home / ".chromium")
            context = browser.new_context()
            page = context.new_page()
            log_in(page, url, "admin", (home / "superset" / "admin_password").read_text().strip())
            payloads = chart_data_payloads(context, url)
            cold = time_chart_requests(context, url, payloads, CHART_REQUESTS_PER_QUERY)
            time_chart_requests(context, url, cached_payloads(payloads), 1)
            warm = time_chart_requests(context, url, cached_payloads(payloads), CHART_REQUESTS_PER_QUERY)
            browser.close()
    finally:
        subprocess.run(["bash", str(SUPERSET_SH), "stop"], env=superset_env, capture_output=True)
    return {"cold": cold, "warm": warm}


@dataclass(frozen=True)
class AirFeed:
    """The EEA feed a tier's air-quality marts come from."""

    feed_id: str
    feed_dir: Path
    years: tuple[int, ...]

    def intervals(self) -> list[tuple[str, str]]:
        return [(f"{year}-01-01", f"{year + 1}-01-01") for year in self.years]

    @property
    def utc_start(self) -> str:
        return f"{self.years[0]}-01-01"

    @property
    def utc_end(self) -> str:
        return f"{self.years[-1] + 1}-01-01"


def eea_from_files(feeds_file: Path) -> None:
    """Tier S's demo_europe reads the demo's e-Reporting CSVs (its offline location), not the demo
    EEA download service: the same raw files the floor and pandas read, and the tier's figures stay
    comparable with the runs before the feed went over HTTP."""
    text = feeds_file.read_text(encoding="utf-8")
    offline, count = re.subn(r'location: "http://127\.0\.0\.1:\d+/eea"',
                             'location: "{home}/feeds/demo/eea_air/{year}/*.csv"', text)
    if count != 1:
        raise SystemExit(f"{feeds_file}: expected one demo EEA download service location, found {count}")
    feeds_file.write_text(offline, encoding="utf-8")


def prepare_tier(name: str, home: Path, bench: Bench) -> AirFeed:
    """Write the tier's feeds below home (and point bench.env at them)."""
    cli = str(BIN / "citypeers")
    if name == "S":
        print(f"tier S: the demo slice, {len(TIER_S_CITIES)} cities x {len(E2E_YEARS)} years", flush=True)
        bench.step("demo feeds", [cli, "demo-data", "--cities", *TIER_S_CITIES, "--years", *E2E_YEARS])
        eea_from_files(Path(bench.env["CITYPEERS_FEEDS"]))
        return AirFeed("demo_europe", home / "feeds" / "demo" / "eea_air", tuple(int(y) for y in E2E_YEARS))
    tier = TIERS[name]
    layout = {"csv": "EEA e-Reporting CSV", "parquet": "EEA Air Quality Download Service Parquet"}[tier.air_format]
    air_years = "-".join(dict.fromkeys(str(year) for year in (tier.air_years[0], tier.air_years[-1])))
    print(f"tier {name}: {tier.cities} cities, one station each, hourly PM2.5 and NO2 for "
          f"{air_years} ({tier.readings:,} readings, {layout}); the other domains "
          f"for {tier.years[0]}-{tier.years[-1]}; GTFS for {tier.gtfs_cities} cities", flush=True)
    started = time.perf_counter()
    bench.env |= write_tier(tier, home)
    bench.rows.append({"step": "write the tier's feeds", "seconds": round(time.perf_counter() - started, 2),
                       "peak_mb": 0, "output": ""})
    print(f"{'write the tier feeds (in process)':<58}{bench.rows[-1]['seconds']:>9.2f} s", flush=True)
    return AirFeed("bench_eea", home / "feeds" / "bench" / "eea_air", tier.air_years)


def every_domain_steps(tier: Tier, bench: Bench) -> dict:
    """The tier's other domains through the CLI, after the air-quality comparisons (so those stay
    air-only): every indicator year of every domain feed, the GTFS networks, then the full build."""
    cli = str(BIN / "citypeers")
    domains = bench.step(f"backfill the other domains, {len(tier.years)} years (CLI)",
                         *[[cli, "backfill", feed_id, "--start", f"{tier.years[0]}-01-01",
                            "--end", f"{tier.years[-1] + 1}-01-01"] for feed_id in domain_feed_ids(tier)])
    gtfs = bench.step(f"GTFS for {tier.gtfs_cities} cities (CLI)",
                      [cli, "ingest", GTFS_FEED, "--start", f"{tier.year}-01-01", "--end", f"{tier.year + 1}-01-01"])
    build = bench.step("dbt build with every domain (CLI)", [cli, "build"])
    build["slowest_dbt_nodes"] = slowest_dbt_nodes(bench.env)
    return {"ingest_other_domains": domains, "ingest_gtfs": gtfs, "build": build}


def city_briefs_step(name: str, home: Path, bench: Bench) -> dict:
    """Render the city briefs of the last build (every city with data at tier S, a sample above it),
    then again right after, with nothing changed: the cost of a publish that changed no brief input."""
    limit = [] if name == "S" else ["--limit", str(BRIEF_SAMPLE_CITIES)]
    command = [str(BIN / "citypeers"), "briefs", *limit]
    figures = {}
    runs = (("full", "city briefs, en + es, HTML + PDF"), ("unchanged", "city briefs again, nothing changed"))
    for run, label in runs:
        row = bench.step(f"{label}{' (sample)' if limit else ''} (CLI)", command)
        summary = json.loads(max((home / "briefs").glob("*/index.json")).read_text(encoding="utf-8"))
        rendered, unchanged = len(summary["ok"]), len(summary["unchanged"])
        with_data = rendered + unchanged + len(summary["not_rendered"]) + len(summary["failed"])
        per_city = row["seconds"] / (rendered + unchanged) if rendered + unchanged else None
        figures[run] = {
            "seconds": row["seconds"], "peak_mb": row["peak_mb"], "cities_rendered": rendered,
            "cities_unchanged": unchanged, "cities_with_data": with_data,
            "workers": int(bench.env.get("CITYPEERS_BRIEF_WORKERS") or os.cpu_count() or 1),
            "seconds_per_city": round(per_city, 3) if per_city else None,
            "all_cities_seconds": row["seconds"] if rendered + unchanged == with_data else
            (round(per_city * with_data) if per_city else None),
            "extrapolated": rendered + unchanged != with_data}
        print(f"  {label}: {rendered} rendered, {unchanged} unchanged of {with_data} cities with data in "
              f"{row['seconds']:.1f} s ({figures[run]['seconds_per_city']} s a city, all cities: "
              f"{figures[run]['all_cities_seconds']} s{' extrapolated' if figures[run]['extrapolated'] else ''})",
              flush=True)
    return figures


def run_tier(name: str, results_dir: Path, *, with_airflow: bool = True) -> Path:
    with tempfile.TemporaryDirectory(prefix=f"citypeers-bench-{name}-") as folder:
        home = Path(folder)
        port = free_port()
        bench = Bench(environment(home, feeds_file_with_port(home, port)))
        cli, airflow = str(BIN / "citypeers"), str(BIN / "airflow")
        print(f"{os.cpu_count()} CPUs; {'step':<50}{'wall':>11}{'peak':>11}")
        air = prepare_tier(name, home, bench)
        env = bench.env

        # The air-quality marts, three ways, from the same raw EEA files (first, so that the
        # builds hold the air-quality data only).
        ingest = bench.step(f"pipeline CLI: ingest eea_air, {len(air.years)} year(s)",
                            *[[cli, "ingest", air.feed_id, "--start", start, "--end", end]
                              for start, end in air.intervals()])
        build = bench.step("pipeline CLI: dbt build + GX on marts + publish", [cli, "build"])
        build["slowest_dbt_nodes"] = slowest_dbt_nodes(env)
        pipeline = {"seconds": round(ingest["seconds"] + build["seconds"], 2),
                    "peak_mb": max(ingest["peak_mb"], build["peak_mb"])}
        baselines = [sys.executable, str(REPO_ROOT / "benchmarks" / "baselines.py")]
        floor = bench.step("floor: one DuckDB script over the raw EEA files",
                           [*baselines, "floor", str(air.feed_dir), air.utc_start, air.utc_end])
        pandas = None
        if name == "S" or TIERS[name].readings <= PANDAS_MAX_READINGS:
            pandas = bench.step("pandas baseline over the raw EEA files",
                                [*baselines, "pandas", str(air.feed_dir), air.utc_start, air.utc_end])
        else:
            print(f"pandas baseline: skipped (more than {PANDAS_MAX_READINGS:,} readings)", flush=True)

        airflow_runs = None
        if with_airflow:
            Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
            subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, check=True)
            subprocess.run([airflow, "pools", "set", "duckdb_writer", "1", "one DuckDB writer at a time"], env=env,
                           capture_output=True, check=True)
            # The Airflow runs repeat the CLI's intervals on the same payloads, which the skip-unchanged rule
            # (issue 15) would skip: without the publish records they parse and validate again, so this
            # figure still measures a full ingest under Airflow, comparable with the CLI's.
            for record in (home / "parsed" / "eea_air").glob("**/*.published.json"):
                record.unlink()
            runner = "from datetime import datetime; import sys; from citypeers.dag_runs import dags_test; " \
                     "dags_test(sys.argv[1], datetime.fromisoformat(sys.argv[2]))"
            airflow_runs = bench.step(
                f"under Airflow: ingest DAG x {len(air.years)} + transform DAG",
                *[[sys.executable, "-c", runner, f"ingest__eea_air__{air.feed_id}", f"{end}T00:00:00+00:00"]
                  for _, end in air.intervals()],
                [sys.executable, "-c", runner, "transform__warehouse", f"{air.utc_end}T00:00:00+00:00"],
            )
        else:
            print("under Airflow: skipped (--skip-airflow)", flush=True)
        # One new day of readings arrives (the year's last day, delivered again as a daily run):
        # ingest that day, then the build, which starts from the serving warehouse and rebuilds
        # only that day's station-day rows (the incremental daily model).
        last_day = (f"{air.years[-1]}-12-31", air.utc_end)
        incremental = bench.step("incremental: ingest 1 new day of eea_air + build (CLI)",
                                 [cli, "ingest", air.feed_id, "--start", last_day[0], "--end", last_day[1]],
                                 [cli, "build"])
        incremental["slowest_dbt_nodes"] = slowest_dbt_nodes(env)
        if name in TIERS:
            domains = every_domain_steps(TIERS[name], bench)
        charts = superset_chart_latencies(home, env)
        for kind, label in (("cold", "cache bypassed (force)"), ("warm", "from the data cache")):
            figures = charts[kind]
            print(f"{'Superset chart-data requests, ' + label:<58}"
                  f"p50 {figures['p50_ms']:.0f} ms, p95 {figures['p95_ms']:.0f} ms "
                  f"({figures['requests']} requests, {figures['failures']} failed)", flush=True)

        briefs = city_briefs_step(name, home, bench)

        http_rerun = None
        if name == "S":  # every other format, one interval through the CLI, over HTTP from the demo feed server
            server = start_feed_server(env, port, home / "feed_server.log")
            http_feeds = (("demo_asia", "openaq_air", "2024-04-01"), ("demo_gtfs", "gtfs", "2025-01-01"),
                          ("demo_gbfs", "gbfs", "2025-01-01"), ("demo_water", "sdmx_csv", "2025-01-01"),
                          ("demo_city_template", "indicator_template", "2025-01-01"),
                          ("demo_waste", "wide_table", "2025-01-01"))
            ingests = [[cli, "ingest", feed_id, "--start", "2024-01-01", "--end", end]
                       for feed_id, _, end in http_feeds]
            try:
                for command, (_, source, end) in zip(ingests, http_feeds, strict=True):
                    bench.step(f"ingest {source}, 1 {'quarter' if end.endswith('04-01') else 'year'} over HTTP (CLI)",
                               command)
                # The same intervals again: every payload answers 304 (or the same bytes), so parse and
                # validate are skipped (issue 15): what a scheduler's rerun costs when nothing changed.
                rerun = bench.step("rerun of those intervals, nothing changed (CLI)", *ingests)
            finally:
                server.terminate()
            manifests = [json.loads(path.read_text(encoding="utf-8")) for feed_id, source, _ in http_feeds
                         for path in (home / "landing" / source / feed_id).glob("*/fetch.json")]
            http_rerun = {"seconds": rerun["seconds"], "intervals": len(ingests),
                          "unchanged": sum(1 for manifest in manifests if manifest.get("changed") is False)}
            print(f"  {http_rerun['unchanged']} of {len(ingests)} intervals unchanged on the rerun "
                  "(parse and validate skipped)", flush=True)

        # The practice impact step (issue 13) on its own synthetic monthly panel: 1,000 cities, 100
        # planted practices (the tiers' air data hold too few years for 24 pre-period months).
        impact = bench.step("impact: 100 practices over 1,000 cities' monthly series",
                            [sys.executable, str(REPO_ROOT / "benchmarks" / "impact.py")])
        impact_figures = json.loads(impact["output"])
        print(f"  of which estimating: {impact_figures['estimate_seconds']:.1f} s "
              f"({impact_figures['practices_per_second']:.1f} practices/s, median {impact_figures['median_donors']} "
              f"donors); planted effects inside their interval: {impact_figures['planted_inside_interval']} of "
              f"{impact_figures['estimated']}; null practices graded moderate/strong: "
              f"{impact_figures['null_graded_moderate_or_strong']} of {impact_figures['null_practices']}", flush=True)

        dagbag = bench.step("DAG folder: Airflow import + DagBag parse (process)",
                            [sys.executable, "-c", DAGBAG, str(REPO_ROOT / "dags")])
        parse_seconds, dag_count, import_errors = dagbag["output"].split()
        print(f"  of which parsing the DAG folder: {float(parse_seconds):.2f} s ({dag_count} DAGs, "
              f"{import_errors} import errors)")

    ratios = {
        "pipeline_cli_over_floor": round(pipeline["seconds"] / floor["seconds"], 1),
        "pipeline_airflow_over_floor": round(airflow_runs["seconds"] / floor["seconds"], 1) if airflow_runs else None,
        "pandas_over_pipeline_cli": round(pandas["seconds"] / pipeline["seconds"], 2) if pandas else None,
        # both sides ingest and build: one new day against the whole period from scratch
        "incremental_over_full_run": round(incremental["seconds"] / pipeline["seconds"], 2),
    }
    print()
    pandas_figure = f"{pandas['seconds']:.1f} s" if pandas else "skipped"
    airflow_figure = f"{airflow_runs['seconds']:.1f} s" if airflow_runs else "skipped"
    print(f"air-quality marts, tier {name}: pipeline (CLI) {pipeline['seconds']:.1f} s, "
          f"under Airflow {airflow_figure}, floor {floor['seconds']:.1f} s, "
          f"pandas {pandas_figure}")
    for ratio, value in ratios.items():
        print(f"  {ratio:<30}{str(value):>8}")
    pipeline_steps = (ingest, build, airflow_runs, incremental)
    measured = ratios | {"pipeline_peak_mb": max(step["peak_mb"] for step in pipeline_steps if step),
                         "dag_folder_parse_seconds": float(parse_seconds), "p95_ms": charts["cold"]["p95_ms"],
                         "impact_estimate_seconds": impact_figures["estimate_seconds"]}
    goals = goal_lines(measured, TIERS[name].air_format if name in TIERS else "csv")
    print(f"\ngoals (set for tier M; this is tier {name}):")
    for goal in goals:
        verdict = "met" if goal["met"] else f"missed by {goal['missed_by']}"
        if goal["met"] is None:
            verdict = goal["missed_by"]
        print(f"  {goal['goal']:<40}{str(goal['measured']):>10}  {verdict}")
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tier": name,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "steps": bench.rows,
        "dag_folder_parse_seconds": float(parse_seconds),
        "superset_chart_data": charts,
        "incremental_one_day": incremental,
        "practice_impact": impact_figures,
        "city_briefs": briefs,
        "http_rerun_unchanged": http_rerun,
        "goals": goals,
        "air_quality_marts": {"pipeline_cli": pipeline, "pipeline_airflow": airflow_runs, "floor": floor,
                              "pandas": pandas, "ratios": ratios},
    }
    if name in TIERS:
        result["every_domain"] = domains
    return write_result(result, results_dir, name)


def write_result(result: dict, results_dir: Path, name: str) -> Path:
    target = results_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%S}_{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"written to {target}\n", flush=True)
    return target


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiers", nargs="+", default=["S"], choices=["S", *TIERS],
                        help="tiers to run, in this order (default: S)")
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    parser.add_argument("--skip-airflow", action="store_true",
                        help="leave out the under-Airflow runs (the harness test does: the e2e tests run the DAGs)")
    parser.add_argument("--executors", choices=list(TIERS), metavar="TIER",
                        help="instead of the tiers: the TIER's other-domain feeds ingested by a running Airflow on the "
                             "LocalExecutor and on 1 and 2 Celery workers (benchmarks/executors.py)")
    parser.add_argument("--workers", nargs="+", type=int, default=[0, 1, 2], choices=[0, 1, 2],
                        help="with --executors: which runs, by Celery workers (0: the LocalExecutor; default: 0 1 2)")
    args = parser.parse_args(argv)
    if args.executors:
        return [write_result(compare_executors(args.executors, tuple(args.workers)), args.results_dir,
                             f"{args.executors}-executors")]
    return [run_tier(name, args.results_dir, with_airflow=not args.skip_airflow) for name in args.tiers]


if __name__ == "__main__":
    main()
