"""Ingest one feed for one data interval: land → parse → validate (the GX gate).

Each step is one function that an Airflow task (or the `citypeers ingest` command) calls with
the feed id and the data interval. Every step rewrites only its own period's files, so a rerun or
a backfill of the same interval gives the same result and never duplicates rows.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any

import duckdb

from citypeers import landing, paths
from citypeers.errors import ContractError, FeedError
from citypeers.feeds import PARSED_AIR_COLUMNS, PARSED_INDICATOR_COLUMNS
from citypeers.intervals import Interval
from citypeers.registry import SOURCE_KINDS, Feed, get_feed

log = logging.getLogger(__name__)

# Share of a period's rows that may be quarantined before the feed counts as broken.
DEFAULT_MAX_QUARANTINE_SHARE = 0.5

# The parsed schemas, by kind of source: what the ingest step adds, then the parsers' contract
# (one definition each, in citypeers.feeds).
_PARSED_BY_KIND = {"air": PARSED_AIR_COLUMNS, "indicator": PARSED_INDICATOR_COLUMNS}
# Columns that identify a row in an error message, by kind of source.
_EXAMPLE_COLUMNS = {
    "air": ("station_id", "pollutant", "measured_at_utc", "source_value", "source_unit"),
    "indicator": ("city_id", "indicator_code", "year", "source_value", "source_unit", "source_ref"),
}


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
    log.info("landed %d payloads (%d bytes) in %s", len(landed), size,
             paths.landing_dir(feed.source, feed.feed_id, interval.label))
    return {"feed_id": feed_id, "period": interval.label, "payloads": len(landed), "bytes": size}


def parse(feed_id: str, start: Any, end: Any) -> dict[str, Any]:
    """Parse the period's latest landed payloads into candidate rows (before the gate)."""
    feed, interval = get_feed(feed_id), Interval.of(start, end)
    payloads = landing.latest(feed, interval)
    con = duckdb.connect()
    relation = _source_module(feed).parse(con, payloads, feed, interval)
    con.register("parsed_rows", relation)
    target = paths.candidates_file(feed.source, feed.feed_id, interval.label)
    _replace_with(
        target,
        con,
        f"select '{feed.source}' as source, '{feed.feed_id}' as feed_id, '{interval.label}' as period, * "
        "from parsed_rows",
    )
    rows = con.execute(f"select count(*) from '{target}'").fetchone()[0]
    log.info("parsed %d candidate rows from %d payloads into %s", rows, len(payloads), target)
    return {"feed_id": feed_id, "period": interval.label, "rows": rows}


def ensure_schema_file(source: str) -> Path:
    """Zero-row Parquet files with the parsed and the quarantine schema, so readers find every
    source even before its first delivery."""
    target = paths.home() / "parsed" / source / "_schema.parquet"
    quarantine = paths.home() / "quarantine" / source / "_schema.parquet"
    if not (target.exists() and quarantine.exists()):
        con = duckdb.connect()
        con.execute(f"create table empty_rows ({parsed_columns(source)})")
        _replace_with(target, con, "select * from empty_rows")
        _replace_with(quarantine, con, "select *, null::varchar as quarantine_reason from empty_rows")
    return target


def validate(feed_id: str, start: Any, end: Any) -> dict[str, Any]:
    """The GX gate: quarantine failing rows with the reason, publish the rest as the period's
    parsed partition, or fail (publishing nothing) when the feed broke its contract."""
    from citypeers.validation import validate_frame

    feed, interval = get_feed(feed_id), Interval.of(start, end)
    candidates = paths.candidates_file(feed.source, feed.feed_id, interval.label)
    if not candidates.exists():
        raise FeedError(feed_id, f"no parsed candidates for period {interval.label}", where=str(candidates),
                        action="run the parse step for this interval first")
    con = duckdb.connect()
    con.execute(f"create view candidates as select * from read_parquet('{candidates}', file_row_number = true)")
    frame = con.execute("select * from candidates order by file_row_number").df()
    suite = f"parsed__{feed.source}"
    outcome = validate_frame(frame, suite, run_label=f"{feed.feed_id}__{interval.label}")

    if outcome.contract_failures:
        details = "; ".join(f.describe() for f in outcome.contract_failures)
        raise ContractError(
            f"feed '{feed_id}' period {interval.label} broke the contract of suite '{suite}': {details}. "
            f"Nothing was published; the raw payloads are kept in "
            f"{paths.landing_dir(feed.source, feed.feed_id, interval.label)}. Fix the feed (or its mapping in "
            f"feeds.yml) and rerun this interval. Full result: {outcome.results_file}"
        )

    reasons = outcome.quarantine_reasons()
    # A row with a parse error is quarantined with the parser's own words, which say more.
    for index, parse_error in frame["parse_error"].dropna().items():
        reasons[int(index)] = parse_error
    max_share = float(feed.options.get("max_quarantine_share", DEFAULT_MAX_QUARANTINE_SHARE))
    if frame.shape[0] and len(reasons) / frame.shape[0] > max_share:
        index, reason = min(reasons.items())
        example = ", ".join(
            f"{column}={frame.loc[index, column]}"
            for column in _EXAMPLE_COLUMNS[feed.kind]
        )
        raise ContractError(
            f"feed '{feed_id}' period {interval.label}: {len(reasons)} of {frame.shape[0]} rows fail validation "
            f"(more than {max_share:.0%}); e.g. row {int(frame.loc[index, 'source_row'])} ({example}): {reason}. "
            f"Nothing was published; the raw payloads are kept in "
            f"{paths.landing_dir(feed.source, feed.feed_id, interval.label)}. What to do: fix the feed or its "
            f"entry in feeds.yml (station mapping, units), then rerun this interval."
        )

    import pandas as pd

    # Rows go back to Parquet from the candidates file itself (not the frame), so types stay exact.
    con.register("reasons", pd.DataFrame(
        {"file_row_number": frame.loc[list(reasons), "file_row_number"].astype("int64"),
         "quarantine_reason": list(reasons.values())}
    ))
    _replace_with(
        paths.quarantine_file(feed.source, feed.feed_id, interval.label), con,
        "select c.* exclude (file_row_number), r.quarantine_reason "
        "from candidates c join reasons r using (file_row_number) order by c.file_row_number",
    )
    _replace_with(
        paths.parsed_file(feed.source, feed.feed_id, interval.label), con,
        "select c.* exclude (file_row_number) from candidates c "
        "anti join reasons r using (file_row_number) order by c.file_row_number",
    )
    ensure_schema_file(feed.source)
    published = frame.shape[0] - len(reasons)
    log.info("feed %s period %s: %d rows published, %d quarantined (%s)", feed_id, interval.label,
             published, len(reasons), paths.quarantine_file(feed.source, feed.feed_id, interval.label))
    return {"feed_id": feed_id, "period": interval.label, "published": published, "quarantined": len(reasons)}


def ingest(feed_id: str, start: Any, end: Any) -> dict[str, Any]:
    """All three steps, as the DAG runs them (for the command line and tests)."""
    land(feed_id, start, end)
    parse(feed_id, start, end)
    return validate(feed_id, start, end)
