"""Ingest one feed for one data interval: land → parse → validate (the GX gate).

Each step is one function that an Airflow task (or the `citypeers ingest` command) calls with
the feed id and the data interval. Every step rewrites only its own period's files, so a rerun or
a backfill of the same interval gives the same result and never duplicates rows.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import os
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from citypeers import landing, paths, units
from citypeers.errors import BackfillError, CitypeersError, ContractError, FeedError
from citypeers.feeds import (
    NOT_A_MEASUREMENT,
    OUT_OF_SCOPE,
    PARSED_AIR_COLUMNS,
    PARSED_INDICATOR_COLUMNS,
    PARSED_PRACTICE_COLUMNS,
    is_exclusion,
    mapping_table_sql,
)
from citypeers.feeds.notices import SEVERITIES, Notices
from citypeers.intervals import Interval, schedule_intervals
from citypeers.registry import SOURCE_KINDS, Feed, city_ids, get_feed
from citypeers.runtime_env import duckdb_memory_limit, gx_chunk_rows, gx_gate

log = logging.getLogger(__name__)

# Share of a period's in-scope rows (rows out of scope and cells that are not measurements do not
# count) that may be quarantined before the feed counts as broken: options.max_quarantine_share.
DEFAULT_MAX_QUARANTINE_SHARE = 0.5

# The parsed schemas, by kind of source: what the ingest step adds, then the parsers' contract
# (one definition each, in citypeers.feeds).
_PARSED_BY_KIND = {
    "air": PARSED_AIR_COLUMNS, "indicator": PARSED_INDICATOR_COLUMNS, "practice": PARSED_PRACTICE_COLUMNS,
}
# Columns that identify a row in an error message, by kind of source.
_EXAMPLE_COLUMNS = {
    "air": ("station_id", "pollutant", "measured_at_utc", "source_value", "source_unit"),
    "indicator": ("city_id", "indicator_code", "year", "source_value", "source_unit", "source_ref"),
    "practice": ("practice_id", "city_key", "category", "indicator_codes", "start_date"),
}
# What to fix when most of a period fails, by kind of source.
_WHAT_TO_FIX = {
    "air": "fix the feed or its entry in feeds.yml (station mapping, units)",
    "indicator": "fix the feed or its entry in feeds.yml (city mapping, units)",
    "practice": "fix the registry's entries (each reason names the field and the value) or the feed's "
                "cities: mapping in feeds.yml",
}
# Row order of a published partition. Air readings go by local date, so that each Parquet row
# group holds a few days and the incremental daily model's date filter skips the others.
_PARSED_ORDER = {
    "air": "c.local_date, c.file_row_number", "indicator": "c.file_row_number", "practice": "c.file_row_number",
}
# Rows a period cannot judge yet, by kind of source (SQL over the candidates; {end} is the interval's
# end). A practice that starts after the period is quarantined for it, but says nothing about the
# feed being broken: a registry lists plans too, and a backfill of its early years would otherwise
# find most of it "in the future" and fail. The broken-feed share leaves such rows out.
_NOT_YET_DUE = {"practice": "cast(start_date as timestamp) >= {end}"}


def parsed_columns(source: str) -> str:
    """The parsed table's schema for a source, as a column list for CREATE TABLE."""
    return ", ".join(
        f"{name} {sql_type}"
        for name, sql_type in (
            ("source", "VARCHAR"), ("feed_id", "VARCHAR"), ("period", "VARCHAR"),
            *_PARSED_BY_KIND[SOURCE_KINDS[source]],
        )
    )


def _source_module(feed: Feed):
    return importlib.import_module(f"citypeers.feeds.{feed.source}")


def _connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB within the pipeline's memory limit, spilling below CITYPEERS_HOME/tmp
    (not into the working directory, DuckDB's default for in-memory databases)."""
    spill = paths.home() / "tmp" / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(config={"memory_limit": duckdb_memory_limit(), "temp_directory": str(spill)})


def _replace_with(target: Path, con: duckdb.DuckDBPyConnection, select_sql: str) -> None:
    """Write a query's rows to a Parquet file atomically (temp file, then rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    con.execute(f"copy ({select_sql}) to '{temporary}' (format parquet, compression zstd)")
    os.replace(temporary, target)


def land(feed_id: str, start: Any, end: Any) -> dict[str, Any]:
    """Fetch the interval from the feed and keep every payload unchanged in the landing zone."""
    feed, interval = get_feed(feed_id), Interval.of(start, end)
    log.info("fetching feed %s (%s) for %s", feed.feed_id, feed.source, interval.label)
    payloads = _source_module(feed).fetch(feed, interval)
    landed = landing.keep(feed, interval, payloads)
    size = sum(p.path.stat().st_size for p in landed)
    changed = landing.changed(feed, interval)
    log.info("landed %d payloads (%d bytes, %s) in %s", len(landed), size,
             "changed" if changed else "the same as the fetch before",
             paths.landing_dir(feed.source, feed.feed_id, interval.label))
    return {"feed_id": feed_id, "period": interval.label, "payloads": len(landed), "bytes": size, "changed": changed}


def parse(feed_id: str, start: Any, end: Any, *, force: bool = False) -> dict[str, Any]:
    """Parse the period's latest landed payloads into candidate rows (before the gate); nothing to
    do when they are those of the period's last publish (`unchanged`), unless `force`."""
    feed, interval = get_feed(feed_id), Interval.of(start, end)
    payloads = landing.latest(feed, interval)
    if not force and unchanged(feed, interval):
        log.info("feed %s period %s: the %d landed payloads are those of the last publish and the rules are the "
                 "same: unchanged, nothing to parse", feed_id, interval.label, len(payloads))
        return _unchanged_result(feed, interval)
    parsed_from = paths.parsed_from_record(feed.source, feed.feed_id, interval.label)
    parsed_from.unlink(missing_ok=True)
    con = _connect()
    parser = _source_module(feed).parse
    if "notices" in inspect.signature(parser).parameters:
        # a format validated against its standard: its notices are kept, also when one fails the interval
        found = Notices(feed.feed_id, interval.label)
        try:
            relation = parser(con, payloads, feed, interval, notices=found)
        finally:
            found.write(feed.source)
        log.info("validation notices by severity: %s (%s)", {s: len(found.of_severity(s)) for s in SEVERITIES},
                 paths.notices_file(feed.source, feed.feed_id, interval.label))
    else:
        relation = parser(con, payloads, feed, interval)
    con.register("parsed_rows", relation)
    target = paths.candidates_file(feed.source, feed.feed_id, interval.label)
    _replace_with(
        target,
        con,
        f"select '{feed.source}' as source, '{feed.feed_id}' as feed_id, '{interval.label}' as period, * "
        "from parsed_rows",
    )
    rows = con.execute(f"select count(*) from '{target}'").fetchone()[0]
    _write_json(parsed_from, _basis(feed, payloads))
    log.info("parsed %d candidate rows from %d payloads into %s", rows, len(payloads), target)
    return {"feed_id": feed_id, "period": interval.label, "rows": rows}


# What, besides the payloads, decides what a period publishes: the parsing and gate code, the GX
# suite and the registry seeds the gate reads (with the feed's own entry in feeds.yml).
_RULE_FILES = ("feeds/*.py", "ingest.py", "units.py", "validation.py")


def _rules(feed: Feed) -> str:
    """A fingerprint of everything but the payloads that a publish depends on: a change to the
    feed's entry in feeds.yml, the code, the suite or the seeds re-parses the period."""
    digest = hashlib.sha256(json.dumps(asdict(feed), sort_keys=True, default=str).encode())
    package = Path(__file__).parent
    files = [path for pattern in _RULE_FILES for path in sorted(package.glob(pattern))]
    files += [paths.expectations_dir() / f"parsed__{feed.source}.json",
              paths.dbt_project_dir() / "seeds" / "cities.csv", paths.dbt_project_dir() / "seeds" / "indicators.csv"]
    for path in files:
        if path.exists():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _basis(feed: Feed, payloads: list) -> dict[str, Any]:
    return {"payload_sha256": sorted(p.sha256 for p in payloads), "rules": _rules(feed)}


def _published_basis(feed: Feed, interval: Interval) -> dict[str, Any] | None:
    """What the period's last successful publish was made from, if its partition is still there."""
    record = paths.published_record(feed.source, feed.feed_id, interval.label)
    if not (record.exists() and paths.parsed_file(feed.source, feed.feed_id, interval.label).exists()):
        return None
    published = json.loads(record.read_text(encoding="utf-8"))
    return {"payload_sha256": published.get("payload_sha256"), "rules": published.get("rules")}


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _write_json(target: Path, document: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, indent=2), encoding="utf-8")
    os.replace(temporary, target)


def _unchanged_result(feed: Feed, interval: Interval) -> dict[str, Any]:
    """A skipped step's result: what the period's last publish (still in place) holds."""
    record = _read_json(paths.published_record(feed.source, feed.feed_id, interval.label)) or {}
    return {"feed_id": feed.feed_id, "period": interval.label, "unchanged": True,
            "published": record.get("rows"), "quarantined": record.get("quarantined"),
            "published_at": record.get("published_at")}


def unchanged(feed: Feed, interval: Interval) -> bool:
    """Whether the period's latest landed payloads (and the rules) are those its last successful
    publish was made from, and the candidates too: then parse and validate have nothing to do."""
    published = _published_basis(feed, interval)
    if published is None:
        return False
    try:
        latest = _basis(feed, landing.latest(feed, interval))
    except FeedError:
        return False
    parsed_from = _read_json(paths.parsed_from_record(feed.source, feed.feed_id, interval.label))
    return latest == published == parsed_from


def ensure_schema_file(source: str) -> Path:
    """Zero-row Parquet files with the parsed and the quarantine schema, so readers find every
    source even before its first delivery."""
    target = paths.home() / "parsed" / source / "_schema.parquet"
    quarantine = paths.home() / "quarantine" / source / "_schema.parquet"
    if not (target.exists() and quarantine.exists()) or _schema_columns(target) != parsed_columns(source):
        # (re)written when the contract gained a column, so partitions parsed before it stay readable
        con = duckdb.connect()
        con.execute(f"create table empty_rows ({parsed_columns(source)})")
        _replace_with(target, con, "select * from empty_rows")
        _replace_with(quarantine, con, "select *, null::varchar as quarantine_reason from empty_rows")
    return target


def _schema_columns(path: Path) -> str:
    """A Parquet file's columns, written as `parsed_columns` writes them."""
    with duckdb.connect() as con:
        return ", ".join(f"{name} {sql_type}" for name, sql_type, *_ in
                         con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall())


def validate(feed_id: str, start: Any, end: Any, *, force: bool = False) -> dict[str, Any]:
    """The GX gate: quarantine failing rows with the reason, publish the rest as the period's
    parsed partition, or fail (publishing nothing) when the feed broke its contract.

    The candidates go through GX in chunks of at most `gx_chunk_rows()` rows, so a year of hourly
    readings for a thousand stations is validated in bounded memory; by default only the rows the
    suite's SQL predicates flag go through GX (see _gx_gate)."""
    feed, interval = get_feed(feed_id), Interval.of(start, end)
    if not force and unchanged(feed, interval):
        log.info("feed %s period %s: unchanged since its last publish, nothing to validate", feed_id, interval.label)
        return _unchanged_result(feed, interval)
    candidates = paths.candidates_file(feed.source, feed.feed_id, interval.label)
    if not candidates.exists():
        raise FeedError(feed_id, f"no parsed candidates for period {interval.label}", where=str(candidates),
                        action="run the parse step for this interval first")
    from citypeers.validation import import_gx_in_background

    import_gx_in_background()  # seconds of Python, while DuckDB works below
    con = _connect()
    con.execute(f"create view candidates as select * from read_parquet('{candidates}', file_row_number = true)")
    total = con.execute("select count(*) from candidates").fetchone()[0]
    suite = f"parsed__{feed.source}"
    beyond_gx = gate_reasons(con, feed.kind)
    outcome = _gx_gate(con, suite, total, run_label=f"{feed.feed_id}__{interval.label}")

    if outcome.contract_failures:
        details = "; ".join(f.describe() for f in outcome.contract_failures)
        raise ContractError(
            f"feed '{feed_id}' period {interval.label} broke the contract of suite '{suite}': {details}. "
            f"Nothing was published; the raw payloads are kept in "
            f"{paths.landing_dir(feed.source, feed.feed_id, interval.label)}. Fix the feed (or its mapping in "
            f"feeds.yml) and rerun this interval. Full result: {outcome.results_file}"
        )

    # Row number in the candidates file -> reason: GX's, then what the warehouse requires of a row
    # beyond GX (registry, catalogue), and a parse error in the parser's own words, which say more.
    reasons = outcome.quarantine_reasons()
    for row_number, reason in beyond_gx.items():
        reasons[row_number] = f"{reason}; {reasons[row_number]}" if row_number in reasons else reason
    reasons.update(con.execute(
        "select file_row_number, parse_error from candidates where parse_error is not null").fetchall())
    excluded_rows = {row: reason for row, reason in reasons.items() if is_exclusion(reason)}
    excluded = Counter(reason.split(":", 1)[0] for reason in excluded_rows.values())
    not_due = _rows_not_yet_due(con, feed.kind, interval)
    broken = {row: reason for row, reason in reasons.items() if row not in excluded_rows and row not in not_due}
    in_scope = total - len(excluded_rows.keys() | not_due)
    max_share = max_quarantine_share(feed)
    if in_scope and len(broken) / in_scope > max_share:
        row_number, reason = min(broken.items())
        columns = ("source_row", *_EXAMPLE_COLUMNS[feed.kind])
        values = con.execute(f"select {', '.join(columns)} from candidates where file_row_number = ?",
                             [row_number]).fetchone()
        example = ", ".join(f"{column}={value}" for column, value in zip(columns[1:], values[1:], strict=True))
        left_out = (f" ({sum(excluded.values())} rows out of scope or not measurements not counted)"
                    if excluded else "")
        raise ContractError(
            f"feed '{feed_id}' period {interval.label}: {len(broken)} of {in_scope} rows fail validation "
            f"(more than {max_share:.0%}, options.max_quarantine_share){left_out}{_not_due_note(not_due)}; "
            f"e.g. row {values[0]} ({example}): {reason}. Nothing was published; the raw payloads are kept in "
            f"{paths.landing_dir(feed.source, feed.feed_id, interval.label)}. What to do: "
            f"{_WHAT_TO_FIX.get(feed.kind, _WHAT_TO_FIX['air'])}, then rerun this interval."
        )

    import pandas as pd

    # Rows go back to Parquet from the candidates file itself (not the frames), so types stay exact.
    con.register("reasons", pd.DataFrame(
        {"file_row_number": pd.Series(list(reasons), dtype="int64"),
         "quarantine_reason": pd.Series(list(reasons.values()), dtype="object")}
    ))
    _replace_with(
        paths.quarantine_file(feed.source, feed.feed_id, interval.label), con,
        "select c.* exclude (file_row_number), r.quarantine_reason "
        "from candidates c join reasons r using (file_row_number) order by c.file_row_number",
    )
    _replace_with(
        paths.parsed_file(feed.source, feed.feed_id, interval.label), con,
        "select c.* exclude (file_row_number) from candidates c "
        f"anti join reasons r using (file_row_number) order by {_PARSED_ORDER[feed.kind]}",
    )
    ensure_schema_file(feed.source)
    published = total - len(reasons)
    parsed_from = _read_json(paths.parsed_from_record(feed.source, feed.feed_id, interval.label))
    record = paths.published_record(feed.source, feed.feed_id, interval.label)
    if parsed_from is not None:  # only a publish of known payloads can make a rerun skip
        _write_json(record, {**parsed_from, "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
                             "rows": published, "quarantined": len(reasons)})
    else:
        record.unlink(missing_ok=True)
    log.info("feed %s period %s: %d rows published, %d quarantined, of which %d out of scope and %d not "
             "measurements (%s)", feed_id, interval.label, published, len(reasons), excluded[OUT_OF_SCOPE],
             excluded[NOT_A_MEASUREMENT], paths.quarantine_file(feed.source, feed.feed_id, interval.label))
    return {"feed_id": feed_id, "period": interval.label, "published": published, "quarantined": len(reasons),
            "out_of_scope": excluded[OUT_OF_SCOPE], "not_a_measurement": excluded[NOT_A_MEASUREMENT]}


def max_quarantine_share(feed: Feed) -> float:
    """options.max_quarantine_share: the share of a period's in-scope rows that may be quarantined
    before the feed counts as broken and nothing is published (default 0.5)."""
    raw = feed.options.get("max_quarantine_share", DEFAULT_MAX_QUARANTINE_SHARE)
    try:
        share = float(raw)
    except (TypeError, ValueError):
        share = -1.0
    if not 0 <= share <= 1:
        raise FeedError(feed.feed_id, f"max_quarantine_share {raw!r} is not a share between 0 and 1",
                        where="feeds.yml options", action="set options.max_quarantine_share to e.g. 0.5")
    return share


def gate_reasons(con: duckdb.DuckDBPyConnection, kind: str) -> dict[int, str]:
    """Row number -> why a candidate without a parse error cannot go to the warehouse: what dbt and
    the marts suites require of a parsed row that a GX suite cannot say. Every row: a city of the
    registry (dbt's relationships test). Air rows: at most 25 hours of a station and pollutant on
    one local date (dbt's test on the daily model). Indicator rows: a numeric indicator of the
    catalogue, in its canonical unit; a year within the indicator's min_year-max_year; a finite
    value; a city total only where the catalogue divides one (normalised_by); a rate within the
    indicator's plausible_min-plausible_max (the marts suite's range). So a passed gate cannot
    make a later build fail."""
    cities = mapping_table_sql({city: city for city in city_ids()}, "registry", "city_id", "known_id")
    problems = [
        "CASE WHEN c.city_id IS NOT NULL AND registry.known_id IS NULL THEN 'city_id ''' || c.city_id || "
        "''' is not a city of the registry (dbt_project/seeds/cities.csv)' END"
    ]
    catalogue_join = ""
    if kind == "air":
        # The crowded days come from one hash aggregate (a window over every row cost seconds); a row
        # whose station, pollutant or date is missing matches none, as its reason text was NULL before.
        catalogue_join = """
            LEFT JOIN (
                SELECT station_id, pollutant, local_date, count(DISTINCT measured_at_utc) AS hours
                FROM candidates WHERE parse_error IS NULL GROUP BY ALL HAVING hours > 25
            ) AS crowded
                ON c.station_id = crowded.station_id AND c.pollutant = crowded.pollutant
                AND c.local_date = crowded.local_date"""
        problems.append(
            "CASE WHEN crowded.hours > 25 THEN 'local date ' || c.local_date || ' holds ' || crowded.hours || "
            "' hours of station ' || c.station_id || ' (' || c.pollutant || '): a day has at most 25, so the "
            "local dates do not follow the hours' END"
        )
    if kind == "indicator":
        catalogue_join = f"LEFT JOIN {units.catalogue_table_sql()} ON c.indicator_code = catalogue.indicator_code"

        def where_set(columns: str) -> str:
            return f"' ({columns} of indicator ' || c.indicator_code || ' in dbt_project/seeds/indicators.csv)'"

        problems += [
            "CASE WHEN catalogue.indicator_code IS NULL THEN 'indicator ' || coalesce('''' || c.indicator_code "
            "|| '''', '(none)') || ' is not a numeric indicator of the catalogue "
            "(dbt_project/seeds/indicators.csv)' END",
            "CASE WHEN c.year IS NULL THEN 'no year' WHEN c.year NOT BETWEEN catalogue.min_year AND catalogue.max_year "
            "THEN 'year ' || c.year || ' is outside ' || catalogue.min_year || '-' || catalogue.max_year || "
            f"{where_set('min_year, max_year')} END",
            "CASE WHEN NOT isfinite(c.value) THEN 'value ' || c.value || ' is not a finite number' END",
            "CASE WHEN catalogue.indicator_code IS NOT NULL AND c.unit IS DISTINCT FROM catalogue.canonical_unit "
            "THEN 'unit ' || coalesce('''' || c.unit || '''', '(none)') || ' is not the canonical unit ''' || "
            f"catalogue.canonical_unit || '''' || {where_set('canonical_unit')} END",
            "CASE WHEN c.basis = 'total' AND catalogue.indicator_code IS NOT NULL AND catalogue.normalised_by IS NULL "
            "THEN 'a city total of ' || c.indicator_code || ' cannot be divided: the catalogue gives it no "
            "normalised_by' END",
            "CASE WHEN c.basis = 'rate' AND isfinite(c.value) "
            "AND (c.value < catalogue.plausible_min OR c.value > catalogue.plausible_max) "
            "THEN 'value ' || c.value || ' ' || c.unit || ' is outside the plausible range ' || "
            f"catalogue.plausible_min || '-' || catalogue.plausible_max || {where_set('plausible_min, plausible_max')}"
            " END",
        ]
    rows = con.execute(f"""
        SELECT file_row_number, reason FROM (
            SELECT c.file_row_number, nullif(concat_ws('; ', {", ".join(problems)}), '') AS reason
            FROM candidates AS c
            LEFT JOIN {cities} ON c.city_id = registry.city_id
            {catalogue_join}
            WHERE c.parse_error IS NULL
        )
        WHERE reason IS NOT NULL
    """).fetchall()
    return dict(rows)


def _gx_gate(con: duckdb.DuckDBPyConnection, suite: str, total: int, *, run_label: str):
    """GX's verdict on the candidates. With CITYPEERS_GX_GATE=sql (the default) one DuckDB query
    flags every row any row-level expectation of the suite could report (citypeers.suite_sql), and
    GX validates only those plus one clean row (so no frame is empty while the table is not): the
    quarantine reasons and contract failures still come from GX, rows SQL proved clean are not
    copied into pandas, and the row count is judged on the table's. A suite SQL cannot express,
    or CITYPEERS_GX_GATE=full, has GX validate every row."""
    from citypeers.suite_sql import row_predicates
    from citypeers.validation import load_suite, validate_frames

    spec = load_suite(suite)
    key = _chunk_key(spec)
    types = dict(con.execute("select column_name, column_type from (describe candidates)").fetchall())
    predicates = row_predicates(spec, types, "candidates") if gx_gate() == "sql" else None
    if predicates is None:
        return validate_frames(candidate_chunks(con, total, key), suite, run_label=run_label)
    flagged = " OR ".join(predicates) or "false"
    con.execute(f"""
        create or replace temp table gx_row_numbers as
        with judged as (select file_row_number, {flagged} as flagged from candidates),
        witness as (select min(file_row_number) as file_row_number from judged where not flagged)
        select file_row_number from judged where flagged
        union all
        select file_row_number from witness where file_row_number is not null
    """)
    con.execute("create or replace temp view gx_candidates as "
                "select * from candidates semi join gx_row_numbers using (file_row_number)")
    gx_total = con.execute("select count(*) from gx_row_numbers").fetchone()[0]
    log.info("GX validates %d of %d candidate rows (the others meet every row-level expectation of %s)",
             gx_total, total, suite)
    return validate_frames(candidate_chunks(con, gx_total, key, "gx_candidates"), suite, run_label=run_label,
                           table_rows=total)


def _rows_not_yet_due(con: duckdb.DuckDBPyConnection, kind: str, interval: Interval) -> set[int]:
    """Row numbers of the candidates the period cannot judge yet (see _NOT_YET_DUE)."""
    if kind not in _NOT_YET_DUE:
        return set()
    condition = _NOT_YET_DUE[kind].format(end=f"timestamp '{interval.end:%Y-%m-%d %H:%M:%S}'")
    return {row for (row,) in con.execute(f"select file_row_number from candidates where {condition}").fetchall()}


def _not_due_note(not_due: set[int]) -> str:
    return f"; {len(not_due)} rows that start after the period are left out of the share" if not_due else ""


def _chunk_key(suite: dict[str, Any]) -> str | None:
    """The column whose rows must stay in one chunk: the suite's unique column, or the first of its
    compound unique key."""
    for expectation in suite["expectations"]:
        if expectation["type"] == "expect_compound_columns_to_be_unique":
            return expectation["kwargs"]["column_list"][0]
        if expectation["type"] == "expect_column_values_to_be_unique":
            return expectation["kwargs"]["column"]
    return None


def candidate_chunks(con: duckdb.DuckDBPyConnection, total: int, key: str | None, table: str = "candidates"):
    """The candidates (or another relation of them, `table`, of `total` rows) as pandas frames
    indexed by row number, at most about `gx_chunk_rows()` rows each.

    All rows of one `key` value stay in one chunk (so uniqueness on a key starting with it holds
    table-wide), and no chunk is empty. A chunk is a range of consecutive key values, balanced by
    row count: the candidates file is sorted by that key, so each chunk's scan reads only its own
    row groups instead of the whole file."""
    count = max(1, -(-total // gx_chunk_rows()))
    if key is None or count == 1:
        yield _frame(con, f"select * from {table} order by file_row_number")
        return
    ranges = con.execute(f"""
        with key_rows as (
            select {key} as chunk_key, count(*) as row_count from {table} group by all
        ),
        placed as (
            select
                chunk_key,
                coalesce(sum(row_count) over (order by chunk_key nulls last
                                              rows between unbounded preceding and 1 preceding), 0)
                    // {-(-total // count)} as chunk
            from key_rows
        )
        select min(chunk_key), max(chunk_key), bool_or(chunk_key is null)
        from placed group by chunk order by chunk
    """).fetchall()
    log.info("validating %d candidate rows in %d chunks (by ranges of %s)", total, len(ranges), key)
    for number, (first, last, with_nulls) in enumerate(ranges, start=1):
        # a plain range (no OR) is what DuckDB pushes into the Parquet scan
        in_chunk = " or ".join([*([f"{key} between $first and $last"] if first is not None else []),
                                *([f"{key} is null"] if with_nulls else [])])
        parameters = {"first": first, "last": last} if first is not None else None
        yield _frame(con, f"select * from {table} where {in_chunk} order by file_row_number", parameters)
        log.info("validated chunk %d of %d", number, len(ranges))


def _frame(con: duckdb.DuckDBPyConnection, select_sql: str, parameters: dict[str, Any] | None = None):
    """Candidate rows as a pandas frame whose (unnamed) index is the row number in the candidates
    file: GX reports failing rows by index."""
    return con.execute(select_sql, parameters).df().set_index("file_row_number").rename_axis(None)


def ingest(feed_id: str, start: Any, end: Any, *, force: bool = False) -> dict[str, Any]:
    """All three steps, as the DAG runs them (for the command line and tests)."""
    land(feed_id, start, end)
    parsed = parse(feed_id, start, end, force=force)
    if parsed.get("unchanged"):
        return parsed
    return validate(feed_id, start, end, force=force)


def backfill(feed_id: str, start: str, end: str, *, force: bool = False) -> list[dict[str, Any]]:
    """Every complete interval of the feed's schedule between start and end, oldest first, in this
    one process (what the DAG's runs would ingest, without a process per interval). Each interval
    is published on its own and a failed one does not stop the others: every interval runs, then
    a BackfillError lists every failure (a rerun redoes any interval idempotently)."""
    feed = get_feed(feed_id)
    intervals = schedule_intervals(feed.schedule, start, end)
    if not intervals:
        raise FeedError(feed_id, f"no complete {feed.schedule} interval between {start} and {end}",
                        where="citypeers backfill", action="widen --start/--end")
    results: list[dict[str, Any]] = []
    failures: list[tuple[str, str]] = []
    for number, interval in enumerate(intervals, start=1):
        log.info("backfill %s: interval %d of %d (%s)", feed_id, number, len(intervals), interval.label)
        try:
            results.append(ingest(feed_id, interval.start, interval.end, force=force))
        except Exception as exc:  # every interval runs; the failures are reported together below
            if not isinstance(exc, CitypeersError):
                log.exception("backfill %s: interval %s failed unexpectedly", feed_id, interval.label)
            log.error("backfill %s: interval %s failed: %s", feed_id, interval.label, exc)
            failures.append((interval.label, f"{type(exc).__name__}: {exc}"))
            results.append({"feed_id": feed_id, "period": interval.label, "error": str(exc)})
    if failures:
        raise BackfillError(feed_id, len(intervals), failures, results)
    return results
