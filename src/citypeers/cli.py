"""`citypeers`: every step a DAG runs, runnable from the command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citypeers import paths
from citypeers.errors import CitypeersError

_FORCE_HELP = "parse and validate even a period whose payloads are those of its last publish"


def _print(result: Any) -> None:
    print(json.dumps(result, indent=2, default=str))


def _demo_data(args: argparse.Namespace) -> None:
    from citypeers.demo import generate

    _print(generate(paths.home(), years=tuple(args.years), cities=args.cities or None))


def _feeds_serve(args: argparse.Namespace) -> None:
    from citypeers.demo.feed_server import main as serve

    serve(paths.home(), args.port, rate_limit_every=args.rate_limit_every, flaky=tuple(args.flaky))


def _openaq_locations(args: argparse.Namespace) -> None:
    from citypeers.feeds.openaq_locations import city_locations, write_csv

    write_csv([row for city_id in args.cities for row in city_locations(
        city_id, args.base_url, radius_m=args.radius_km * 1000, connection=args.connection)])


def _feeds(_: argparse.Namespace) -> None:
    from citypeers.registry import load_feeds

    for feed in load_feeds():
        target = feed.city_id or f"{len(feed.stations)} stations"
        print(f"{feed.feed_id:<20} {feed.source:<12} {feed.schedule:<16} {target:<14} {feed.location}")


def _ingest(args: argparse.Namespace) -> None:
    from citypeers import ingest

    step = {"all": ingest.ingest, "land": ingest.land, "parse": ingest.parse, "validate": ingest.validate}
    options = {"force": True} if args.force and args.step != "land" else {}
    result = step[args.step](args.feed_id, args.start, args.end, **options)
    _print(result)
    if args.step != "land":
        _print_unchanged([result])


def _print_unchanged(results: list[dict]) -> None:
    """How many intervals were skipped as unchanged (on stderr: stdout stays JSON)."""
    skipped = sum(1 for result in results if result.get("unchanged"))
    print(f"{skipped} of {len(results)} intervals skipped as unchanged (the same payloads as their last publish)",
          file=sys.stderr)


def _snapshot(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime, timedelta

    from citypeers.feeds import gbfs_http

    start = args.start or datetime.now(UTC).replace(minute=0, second=0, microsecond=0).isoformat()
    end = args.end or (datetime.fromisoformat(start) + timedelta(hours=1)).isoformat()
    _print(gbfs_http.take_snapshot(args.feed_id, start, end))


def _backfill(args: argparse.Namespace) -> None:
    from citypeers import ingest
    from citypeers.errors import BackfillError

    try:
        results = ingest.backfill(args.feed_id, args.start, args.end, force=args.force)
    except BackfillError as error:
        _print(error.results)  # what was published, and each failed interval, before the error
        _print_unchanged(error.results)
        raise
    _print(results)
    _print_unchanged(results)


def _build(args: argparse.Namespace) -> None:
    from citypeers import warehouse

    _print(warehouse.build_and_publish(full_refresh=args.full_refresh))


def _run_dags(args: argparse.Namespace) -> None:
    from citypeers.dag_runs import run_all

    runs, skipped = run_all(args.until)
    print(f"{len(runs)} DAG runs succeeded; {skipped} ingest intervals skipped as unchanged")


def _trigger_dags(args: argparse.Namespace) -> None:
    from citypeers.airflow_api import AirflowApi, run_interval

    started = time.monotonic()
    runs = run_interval(AirflowApi.from_environment(), datetime.fromisoformat(args.until).replace(tzinfo=UTC),
                        transform=not args.ingest_only)
    print(f"{len(runs)} DAG runs succeeded on the running Airflow in {time.monotonic() - started:.0f} s")


def _values(args: argparse.Namespace) -> None:
    from citypeers.benchmarking import value_sources_report, values_report

    if args.city:
        print(value_sources_report(args.indicator, args.city, args.year))
        return

    print(values_report(args.indicator, args.year))


def _peers(args: argparse.Namespace) -> None:
    from citypeers.benchmarking import peers_report

    print(peers_report(args.city))


def _learn(args: argparse.Namespace) -> None:
    from citypeers.benchmarking import learn_report

    print(learn_report(args.city, args.indicator))


def _practices(args: argparse.Namespace) -> None:
    from citypeers.practice_reports import practices_report

    print(practices_report(args.city, args.domain))


def _impact(args: argparse.Namespace) -> None:
    from citypeers.practice_reports import impact_report

    print(impact_report(args.practice_id, args.indicator))


def _brief(args: argparse.Namespace) -> None:
    from citypeers.briefs.render import write_brief

    print(write_brief(args.city, args.year, args.lang, args.format, args.out, show_native=args.native_names))


def _briefs(args: argparse.Namespace) -> None:
    from citypeers.briefs.batch import render_all

    summary = render_all(args.year, args.langs, args.formats, show_native=args.native_names, limit=args.limit,
                         force=args.force, workers=args.workers)
    run = summary["run"]
    rendered = len(run["rendered"])
    per_city = f", {run['seconds'] / rendered:.2f} s a city" if rendered else ""
    print(f"{rendered} city briefs rendered ({', '.join(args.langs)}; {', '.join(args.formats)}) in "
          f"{run['seconds']:.1f} s on {run['workers']} workers{per_city}; {len(run['unchanged'])} unchanged "
          f"since their last brief{' (nothing changed)' if not rendered and not run['failed'] else ''}; "
          f"{len(summary['no_data'])} cities without data; index: {summary['index']}")


def _check_dashboards(args: argparse.Namespace) -> None:
    import os

    from citypeers.dashboard_check import check_dashboards, dashboard_slugs

    superset_home = paths.home() / "superset"
    password_file = args.password_file or superset_home / f"{args.username}_password"
    if not password_file.is_file():
        raise CitypeersError(f"no password file {password_file}: run 'scripts/superset.sh import' first")
    url = args.url or f"http://127.0.0.1:{os.environ.get('SUPERSET_PORT', '8088')}"
    slugs = args.slugs or dashboard_slugs(paths.REPO_ROOT / "dashboards" / "dashboards")
    out_dir = args.out or superset_home / "screenshots"
    checks = check_dashboards(url, args.username, password_file.read_text().strip(), slugs, out_dir)
    print(f"{'dashboard':<20} {'charts':>6} {'with data':>9}  screenshot")
    for check in checks:
        with_data = len(check.charts) - len(check.charts_without_data)
        print(f"{check.slug:<20} {len(check.charts):>6} {with_data:>9}  {check.screenshot}")
    problems = [
        f"{check.slug}: " + "; ".join(check.data.failures + check.errors
                                      + [f"no data: {name}" for name in check.charts_without_data])
        for check in checks if not check.ok
    ]
    if problems:
        raise CitypeersError(
            "dashboards with problems (is the warehouse published? see $CITYPEERS_HOME/superset/logs):\n  "
            + "\n  ".join(problems))
    print(f"all {len(checks)} dashboards show data to {args.username!r} at {url}")


def _env(args: argparse.Namespace) -> None:
    from citypeers.runtime_env import shell_exports

    print(shell_exports(executor=args.executor))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="citypeers", description=__doc__)
    top.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = top.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo-data", help="write the deterministic demo feeds below $CITYPEERS_HOME")
    demo.add_argument("--years", type=int, nargs="+", default=[2023, 2024, 2025])
    demo.add_argument("--cities", nargs="*", help="city ids (default: every city in the registry)")
    demo.set_defaults(run=_demo_data)

    serve = commands.add_parser(
        "feeds-serve", aliases=["openaq-serve"], help="serve every demo feed over HTTP on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--rate-limit-every", type=int, default=50, metavar="N",
                       help="answer every Nth request with 429 and Retry-After: 1 (0: never; default 50)")
    serve.add_argument("--flaky", action="append", default=[], metavar="PREFIX",
                       help="paths under PREFIX answer 500 to the first request of each URL (repeatable)")
    serve.set_defaults(run=_feeds_serve)

    locations = commands.add_parser(
        "openaq-locations", help="OpenAQ locations near registry cities, as rows of an openaq_air stations file")
    locations.add_argument("cities", nargs="+", help="city ids of dbt_project/seeds/cities.csv")
    locations.add_argument("--base-url", default="https://api.openaq.org/v3", help="the API's base URL")
    locations.add_argument("--radius-km", type=int, default=25, help="search radius (OpenAQ allows at most 25)")
    locations.add_argument("--connection", default="openaq_default",
                           help="Airflow Connection with the API key (AIRFLOW_CONN_<ID> on the command line)")
    locations.set_defaults(run=_openaq_locations)

    commands.add_parser("feeds", help="list the feeds in feeds.yml").set_defaults(run=_feeds)
    env = commands.add_parser("env", help="print the stack's environment as shell exports")
    env.add_argument("--executor", choices=["local", "local-scheduler", "celery"], default="local",
                     help="local: SQLite, `airflow dags test`; local-scheduler: scripts/celery_stack.sh with "
                          "CELERY_WORKERS=0 (Postgres, the scheduler runs the tasks); celery: its Celery workers")
    env.set_defaults(run=_env)

    ingest = commands.add_parser("ingest", help="ingest one feed for one data interval [start, end)")
    ingest.add_argument("feed_id")
    ingest.add_argument("--start", required=True, help="interval start, ISO date or datetime (UTC)")
    ingest.add_argument("--end", required=True, help="interval end (exclusive)")
    ingest.add_argument("--step", choices=["all", "land", "parse", "validate"], default="all")
    ingest.add_argument("--force", action="store_true", help=_FORCE_HELP)
    ingest.set_defaults(run=_ingest)

    snapshot = commands.add_parser(
        "snapshot", help="one snapshot of a live GBFS feed's systems into the landing zone (the snapshot DAG's task)")
    snapshot.add_argument("feed_id")
    snapshot.add_argument("--start", help="the run's period start (default: the current hour, UTC)")
    snapshot.add_argument("--end", help="the run's period end (default: start + 1 hour)")
    snapshot.set_defaults(run=_snapshot)

    backfill = commands.add_parser(
        "backfill", help="ingest one feed for every interval of its schedule in [start, end), in one process")
    backfill.add_argument("feed_id")
    backfill.add_argument("--start", required=True, help="first interval start, ISO date (UTC)")
    backfill.add_argument("--end", required=True, help="last interval end (exclusive)")
    backfill.add_argument("--force", action="store_true", help=_FORCE_HELP)
    backfill.set_defaults(run=_backfill)

    run_dags = commands.add_parser(
        "run-dags", help="run every ingest DAG for every interval until a date, then the transform "
        "(airflow dags test)")
    run_dags.add_argument("--until", default="2026-01-01", help="end of the last interval (exclusive)")
    run_dags.set_defaults(run=_run_dags)

    trigger = commands.add_parser(
        "trigger-dags", help="on a running Airflow (make demo-celery): every ingest DAG for the interval ending "
        "at --until, then the transform; waits for them")
    trigger.add_argument("--until", default="2026-01-01", help="end of the interval (exclusive)")
    trigger.add_argument("--ingest-only", action="store_true", help="leave the transform out")
    trigger.set_defaults(run=_trigger_dags)

    build = commands.add_parser("build", help="dbt build (incremental from the serving warehouse), GX gate "
                                "on the marts, atomic publish")
    build.add_argument("--full-refresh", action="store_true",
                       help="rebuild every model from empty (after a change of a completeness rule, a deleted "
                            "parsed file, or a schema change of an incremental model)")
    build.set_defaults(run=_build)

    values = commands.add_parser(
        "values", help="every city's value of one indicator, best first, with its sources (read-only)")
    values.add_argument("indicator", help="indicator code or name, e.g. msw_recycled_share")
    values.add_argument("--year", type=int, help="the year (default: the latest with values)")
    values.add_argument("--city", help="trace this city's value to its sources: feed, period, payload hash, "
                                       "fetch time, HTTP status, URL or file (fct_value_sources)")
    values.set_defaults(run=_values)

    peers = commands.add_parser("peers", help="a city's most similar cities and why (serving warehouse, read-only)")
    peers.add_argument("city", help="city id or name, case-insensitive")
    peers.set_defaults(run=_peers)

    learn = commands.add_parser(
        "learn", help="similar cities doing better or improving fastest on one indicator (read-only)")
    learn.add_argument("city", help="city id or name, case-insensitive")
    learn.add_argument("indicator", help="indicator code or name, e.g. pm25_annual_mean")
    learn.set_defaults(run=_learn)

    practices = commands.add_parser(
        "practices", help="what cities did (the practices registry) and the estimated effects (read-only)")
    practices.add_argument("city", nargs="?", help="city id or name (default: every city)")
    practices.add_argument("--domain", help="only this domain, e.g. air_quality")
    practices.set_defaults(run=_practices)

    impact = commands.add_parser(
        "impact", help="one practice's effect: the city against its synthetic control, donors, placebos, grade")
    impact.add_argument("practice_id")
    impact.add_argument("--indicator", help="only this targeted indicator code")
    impact.set_defaults(run=_impact)

    brief = commands.add_parser(
        "brief", help="a city's brief for officials, HTML or PDF, in English or Spanish (serving warehouse, "
        "read-only)")
    brief.add_argument("city", help="city id or name, case-insensitive")
    brief.add_argument("--year", type=int, help="the year (default: the warehouse's latest year with values)")
    brief.add_argument("--lang", choices=["en", "es"], default="en")
    brief.add_argument("--format", choices=["html", "pdf"], default="html")
    brief.add_argument("--out", type=Path, help="file to write (default $CITYPEERS_HOME/briefs/<year>/"
                       "<city>.<lang>.<format>)")
    brief.add_argument("--no-native-names", dest="native_names", action="store_false",
                       help="leave out city names in their own script (e.g. 東京 beside Tokyo)")
    brief.set_defaults(run=_brief)

    briefs = commands.add_parser(
        "briefs", help="every city's brief and the index page, as the report__city_briefs DAG does")
    briefs.add_argument("--year", type=int, help="the year (default: the warehouse's latest year with values)")
    briefs.add_argument("--langs", nargs="+", choices=["en", "es"], default=["en", "es"])
    briefs.add_argument("--formats", nargs="+", choices=["html", "pdf"], default=["html", "pdf"])
    briefs.add_argument("--no-native-names", dest="native_names", action="store_false",
                        help="leave out city names in their own script")
    briefs.add_argument("--limit", type=int, help="only the first N cities with data (a sample, for timing)")
    briefs.add_argument("--force", action="store_true",
                        help="render every city, also those whose brief inputs did not change since their last brief")
    briefs.add_argument("--workers", type=int,
                        help="processes rendering side by side (default $CITYPEERS_BRIEF_WORKERS, or the CPU count)")
    briefs.set_defaults(run=_briefs)

    check = commands.add_parser(
        "check-dashboards", help="open every Superset dashboard in headless Chromium; fail unless all show data")
    check.add_argument("slugs", nargs="*", help="dashboard slugs (default: every dashboard in dashboards/)")
    check.add_argument("--url", help="Superset URL (default http://127.0.0.1:$SUPERSET_PORT)")
    check.add_argument("--username", default="official", help="user to log in as (default: official)")
    check.add_argument("--password-file", type=Path,
                       help="default $CITYPEERS_HOME/superset/<username>_password")
    check.add_argument("--out", type=Path, help="screenshots folder (default $CITYPEERS_HOME/superset/screenshots)")
    check.set_defaults(run=_check_dashboards)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.run(args)
    except CitypeersError as error:
        print(f"citypeers: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
