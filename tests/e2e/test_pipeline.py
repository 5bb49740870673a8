"""End to end: generated feeds → Airflow DAG runs → dbt → GX → serving warehouse."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from citypeers.registry import DEFAULT_START_DATE
from tests.e2e.pipeline import BIN, E2E_CITIES, E2E_YEARS, environment, run, start_feed_server

pytestmark = pytest.mark.e2e


def serving(home: Path) -> Path:
    return home / "warehouse" / "citypeers.duckdb"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(home: Path, sql: str):
    with duckdb.connect(str(serving(home)), read_only=True) as con:
        return con.execute(sql).fetchall()


def mart_snapshot(home: Path) -> list[tuple]:
    """The fact's content, doubles to 1e-9: a parallel sum may differ in the last bit between runs."""
    return query(home, """
        select city_id, indicator_code, year, round(value, 9), station_count, stations_meeting_rule,
               round(valid_day_share, 9), quality_flag, quality_note, highest_target_met,
               round(gap_to_next_target, 9)
        from fct_city_indicator_annual order by all""")


def test_marts_hold_every_city_year_and_scored_indicator_the_feeds_sent(published_home):
    cities = {row[0] for row in query(published_home, "select distinct city_id from fct_city_indicator_annual")}
    assert cities == set(E2E_CITIES)
    years = {row[0] for row in query(published_home, "select distinct year from fct_city_indicator_annual")}
    assert years == {2023, 2024, 2025}
    # every scored indicator of the catalogue, in every domain, for every city and year
    missing = query(published_home, """
        with expected as (
            select city_id, indicator_code, year
            from (select distinct city_id from fct_city_indicator_annual)
            cross join (select indicator_code from dim_indicator where is_scored)
            cross join (values (2023), (2024), (2025)) as years (year)
        )
        select * from expected
        anti join fct_city_indicator_annual using (city_id, indicator_code, year)
        order by all""")
    # the only gaps are rows the ingest gate quarantined (the demo plants an empty SDMX observation,
    # an empty waste coverage cell and a template row in an unknown unit; its row for a city
    # outside the registry is quarantined too but leaves no gap): a quarantined figure leaves its
    # city-year missing, it is never invented
    quarantined = query(published_home, """
        select coalesce(sum(quarantined_row_count), 0) from fct_quarantine_reasons
        where source_name not in ('eea_air', 'openaq_air')""")[0][0]
    assert 0 < len(missing) <= quarantined, f"{len(missing)} city-years without a value, e.g. {missing[:5]}"
    domains = {row[0] for row in query(published_home, "select distinct domain from fct_city_indicator_annual")}
    assert domains == {"air_quality", "noise", "mobility", "waste", "water", "housing"}
    duplicates = query(published_home, """
        select count(*) from (select city_id, indicator_code, year from fct_city_indicator_annual
        group by all having count(*) > 1)""")[0][0]
    assert duplicates == 0


def test_every_format_reaches_the_warehouse_in_canonical_units(published_home):
    by_city = dict(query(published_home, """
        select city_id, max(value) from fct_city_indicator_annual
        where indicator_code = 'pm25_annual_mean' group by city_id"""))
    # Delhi's fine-particle pollution is an order of magnitude above Madrid's in any year.
    assert by_city["delhi"] > 5 * by_city["madrid"]
    wrong_units = query(published_home, """
        select f.indicator_code, f.unit, i.unit_label from fct_city_indicator_annual as f
        join dim_indicator as i using (indicator_code) where f.unit is distinct from i.canonical_unit""")
    assert wrong_units == []
    sources = {row[0] for row in query(published_home, """
        select distinct unnest(string_split(source_names, ', ')) from fct_city_indicator_annual""")}
    assert sources == {"eea_air", "openaq_air", "gtfs", "gbfs", "sdmx_csv", "wide_table", "indicator_template"}
    # city totals (departures, stops, bikes, tonnes) were divided by the same year's population or area
    totals = query(published_home, """
        select indicator_code, count(*), count(value) from fct_city_indicator_annual
        where basis = 'total' group by all""")
    assert {code for code, _, _ in totals} >= {"pt_departures_per_1000", "pt_stops_per_km2", "shared_bikes_per_1000"}
    assert all(rows == with_value for _, rows, with_value in totals), totals
    outside = query(published_home, """
        select f.indicator_code, f.city_id, f.year, f.value from fct_city_indicator_annual as f
        join dim_indicator as i using (indicator_code)
        where i.canonical_unit = 'percent' and (f.value < 0 or f.value > 100)""")
    assert outside == [], outside


def test_city_years_below_the_completeness_rule_are_flagged_not_dropped(published_home):
    flagged = query(published_home, """
        select city_id, year, quality_note from fct_city_indicator_annual
        where quality_flag = 'below_completeness_rule'""")
    assert {row[0] for row in query(published_home, """
        select distinct domain from fct_city_indicator_annual
        where quality_flag = 'below_completeness_rule'""")} == {"air_quality"}
    # the demo plants whole city-years with too few valid days (Delhi 2025 among them)
    assert flagged, "the demo's incomplete city-years must appear, flagged"
    assert all(note and "rule" in note for _, _, note in flagged)
    partly = query(published_home, """
        select count(*) from fct_city_indicator_annual
        where quality_flag = 'ok' and stations_meeting_rule < station_count""")[0][0]
    assert partly > 0, "a city-year should be valid from its complete stations when another station fails"


def test_every_ingest_validation_is_recorded_in_the_warehouse(published_home):
    runs = query(published_home, """
        select run_label, is_success from fct_validation_runs where gate = 'ingest'""")
    labels = {label for label, _ in runs}
    registry = yaml.safe_load((published_home / "feeds.yml").read_text(encoding="utf-8"))
    # each yearly feed ran every demo year from its own start (demo_practices starts in 2025; the live
    # bike-share feed demo_gbfs_live starts after the demo's years, so it has no interval to run)
    starts = {feed["feed_id"]: int(str(feed.get("start_date", DEFAULT_START_DATE))[:4])
              for feed in registry["feeds"] if feed["schedule"] == "@yearly"}
    yearly = {feed_id: first for feed_id, first in starts.items() if first <= int(E2E_YEARS[-1])}
    assert set(starts) - set(yearly) == {"demo_gbfs_live"}
    assert len(yearly) >= 8, yearly
    for feed_id, first_year in yearly.items():
        expected = {f"{feed_id}__{year}" for year in E2E_YEARS if int(year) >= first_year}
        assert expected and expected <= labels, feed_id
    assert len([label for label in labels if label.startswith("demo_asia__")]) == 12
    # a run is unsuccessful exactly when its feed period quarantined rows
    quarantined = {
        f"{feed_id}__{period}"
        for feed_id, period in query(published_home, "select feed_id, ingest_period from fct_quarantine_reasons")
    }
    failed = {label for label, success in runs if not success and label.startswith("demo_")}
    assert failed == {label for label in quarantined if label.startswith("demo_")}


def test_benchmark_marts_rank_every_city_among_its_peers(published_home):
    # every city of the registry has context (cities.csv), so each has its k = 8 similar cities
    peers = dict(query(published_home, "select city_id, count(*) from fct_city_peers group by all"))
    assert all(peers[city] == 8 for city in E2E_CITIES), peers
    benchmarked = query(published_home, """
        select count(distinct city_id), count(distinct indicator_code), count(overall_rank)
        from fct_city_benchmark""")[0]
    assert benchmarked[0] == len(E2E_CITIES) and benchmarked[1] >= 19 and benchmarked[2] > 0
    overall = query(published_home, """
        select count(*) from fct_city_scores where domain = 'overall' and score is not null""")[0][0]
    assert overall > 0
    env = environment(published_home, published_home / "feeds.yml")
    opportunities = query(published_home, """
        select city_id, indicator_code, reason from fct_learning_opportunities
        order by city_id, indicator_code, opportunity_type, opportunity_rank""")
    assert opportunities, "similar cities in the slice do better on something"
    city_id, indicator_code, reason = opportunities[0]
    learn = run([str(BIN / "citypeers"), "learn", city_id, indicator_code], env).stdout
    assert "Similar cities" in learn and reason in learn, learn
    values = run([str(BIN / "citypeers"), "values", "msw_recycled_share"], env).stdout
    assert all(city.capitalize() in values for city in ("madrid", "seoul", "tokyo")), values
    # the catalogue's direction orders the list: the city recycling most comes first
    (best,) = query(published_home, """
        select city_name from fct_city_indicator_annual where indicator_code = 'msw_recycled_share'
        and year = (select max(year) from fct_city_indicator_annual where indicator_code = 'msw_recycled_share')
        order by value desc limit 1""")[0]
    lines = values.splitlines()
    assert "higher is better" in lines[0] and lines[3].startswith(best), values


def test_targets_are_the_who_ladder(published_home):
    rows = query(published_home, """
        select value, highest_target_met, next_target, gap_to_next_target
        from fct_city_indicator_annual where indicator_code = 'pm25_annual_mean'""")
    for value, met, next_target, gap in rows:
        if value <= 5:
            assert met == "who_2021_aqg" and next_target is None
        if value > 35:
            assert met is None and next_target == "who_2021_it1" and gap == pytest.approx(value - 35)
        if 15 < value <= 25:
            assert met == "who_2021_it2" and next_target == "who_2021_it3" and gap == pytest.approx(value - 15)


def test_rerunning_an_interval_changes_nothing(published_home):
    env = environment(published_home, published_home / "feeds.yml")
    before = mart_snapshot(published_home)
    parsed = published_home / "parsed" / "eea_air" / "demo_europe" / "2024.parquet"
    parsed_rows = duckdb.sql(f"select count(*) from '{parsed}'").fetchone()[0]
    # demo_europe fetches from the demo feed server (its EEA download service), stopped after the session's run
    port = int(re.search(r"127\.0\.0\.1:(\d+)/eea", (published_home / "feeds.yml").read_text()).group(1))
    server = start_feed_server(env, port, published_home / "feed_server_rerun.log")
    try:
        run([str(BIN / "airflow"), "dags", "test", "ingest__eea_air__demo_europe", "2025-01-01T00:00:00+00:00"], env)
    finally:
        server.terminate()
        server.wait(timeout=10)
    run([str(BIN / "citypeers"), "build"], env)
    assert duckdb.sql(f"select count(*) from '{parsed}'").fetchone()[0] == parsed_rows
    assert mart_snapshot(published_home) == before
    duplicates = query(published_home, """
        select count(*) from (select city_id, indicator_code, year from fct_city_indicator_annual
        group by all having count(*) > 1)""")[0][0]
    assert duplicates == 0


def _bad_feed_home(
    published_home: Path, tmp_path: Path, feed_id: str, mutate, city: str = "city_id: madrid"
) -> tuple[dict, Path]:
    """A feed registry with one EEA feed whose 2024 file was damaged by `mutate`."""
    source = next((published_home / "feeds" / "demo" / "eea_air" / "2024").glob("*.csv"))
    folder = tmp_path / "bad_feed" / "2024"
    folder.mkdir(parents=True)
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / source.name).write_text("".join(mutate(lines)), encoding="utf-8")
    registry = tmp_path / "feeds.yml"
    registry.write_text(f"""
feeds:
  - feed_id: {feed_id}
    source: eea_air
    location: "{tmp_path}/bad_feed/{{year}}/*.csv"
    schedule: "@yearly"
    {city}
""", encoding="utf-8")
    return environment(published_home, registry), folder / source.name


def _ingest(env, feed_id):
    return subprocess.run(
        [str(BIN / "citypeers"), "ingest", feed_id, "--start", "2024-01-01", "--end", "2025-01-01"],
        env=env, capture_output=True, text=True, timeout=600,
    )


def _set_field(line: str, column: int, value: str) -> str:
    fields = line.split(",")
    fields[column] = value
    return ",".join(fields)


def test_bad_rows_are_quarantined_with_the_reason(published_home, tmp_path):
    def damage(lines):
        header, rows = lines[0], lines[1:]
        # every row of two hours, so that no duplicate sampling process row hides the damage
        for number, row in enumerate(rows):
            if "2024-03-10 05:00:00" in row.split(",")[13]:
                rows[number] = _set_field(row, 11, "-4.5")          # Concentration
            if "2024-03-11 07:00:00" in row.split(",")[13]:
                rows[number] = _set_field(row, 12, "furlongs")      # UnitOfMeasurement
        return [header, *rows]

    env, _ = _bad_feed_home(published_home, tmp_path, "damaged_rows", damage)
    before = sha256(serving(published_home))
    completed = _ingest(env, "damaged_rows")
    assert completed.returncode == 0, completed.stderr
    quarantine = published_home / "quarantine" / "eea_air" / "damaged_rows" / "2024.parquet"
    reasons = [r[0] for r in duckdb.sql(f"select quarantine_reason from '{quarantine}'").fetchall()]
    assert any("value" in reason and "between" in reason for reason in reasons), reasons
    assert any("furlongs" in reason for reason in reasons), reasons
    parsed = published_home / "parsed" / "eea_air" / "damaged_rows" / "2024.parquet"
    assert duckdb.sql(f"select count(*) from '{parsed}' where value < 0").fetchone()[0] == 0
    assert sha256(serving(published_home)) == before
    # the next build shows them in the warehouse, for the people who triage feeds
    run([str(BIN / "citypeers"), "build"], env)
    shown = query(published_home, """
        select quarantine_reason, quarantined_row_count from fct_quarantine_reasons
        where feed_id = 'damaged_rows'""")
    assert any("furlongs" in reason for reason, _ in shown), shown


def test_a_truncated_file_fails_clearly_keeps_the_payload_and_publishes_nothing(published_home, tmp_path):
    env, damaged = _bad_feed_home(published_home, tmp_path, "truncated_feed",
                                  lambda lines: [*lines[:200], lines[200][:25]])
    before = sha256(serving(published_home))
    completed = _ingest(env, "truncated_feed")
    assert completed.returncode != 0
    message = completed.stderr
    assert "truncated_feed" in message and "what to do" in message, message
    landed = list((published_home / "landing" / "eea_air" / "truncated_feed" / "2024").glob("*.csv"))
    assert any(p.read_bytes() == damaged.read_bytes() for p in landed), "raw payload must be kept unchanged"
    assert not (published_home / "parsed" / "eea_air" / "truncated_feed" / "2024.parquet").exists()
    assert sha256(serving(published_home)) == before


def test_a_build_killed_midway_leaves_the_serving_file_identical(published_home):
    env = environment(published_home, published_home / "feeds.yml")
    before = sha256(serving(published_home))
    rows_before = mart_snapshot(published_home)
    build = published_home / "warehouse" / "build.duckdb"
    process = subprocess.Popen([str(BIN / "citypeers"), "build"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (build.exists() and build.stat().st_size > 0):
        time.sleep(0.05)
    assert build.exists(), "the build never started writing"
    time.sleep(1.0)  # let dbt get into the models
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert sha256(serving(published_home)) == before
    assert mart_snapshot(published_home) == rows_before
    # and the next build recovers on its own
    run([str(BIN / "citypeers"), "build"], env)
    assert mart_snapshot(published_home) == rows_before


def test_a_feed_that_breaks_its_contract_fails_naming_feed_field_and_example(published_home, tmp_path):
    # the mapping names a station the files do not have: no row can be given a city
    env, _ = _bad_feed_home(published_home, tmp_path, "unmapped_feed", lambda lines: lines,
                            city="stations: {NOSUCHSTATION: madrid}")
    before = sha256(serving(published_home))
    completed = _ingest(env, "unmapped_feed")
    assert completed.returncode != 0
    message = completed.stderr
    assert "unmapped_feed" in message and "Nothing was published" in message, message
    assert "station_id" in message and "row " in message, f"no example row in: {message}"
    assert not (published_home / "parsed" / "eea_air" / "unmapped_feed" / "2024.parquet").exists()
    assert sha256(serving(published_home)) == before


def test_the_readme_queries_for_analysts_run_on_the_published_warehouse(published_home):
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", readme, re.S) + re.findall(r'con\.sql\("""(.*?)"""\)', readme, re.S)
    statements = [statement for block in blocks for statement in block.split(";")
                  if any(line.strip() and not line.strip().startswith("--") for line in statement.splitlines())]
    assert len(statements) >= 6, "the README's analyst section lost its example queries"
    # each runs as written (a renamed column or mart fails here); Madrid's similar cities are mostly
    # outside the 6-city slice, so some may rightly return no rows
    answered = [statement for statement in statements if query(published_home, statement)]
    assert len(answered) >= len(statements) - 2, set(statements) - set(answered)
