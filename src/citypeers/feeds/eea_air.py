"""EEA air quality files → parsed air measurements: e-Reporting (E1a) time series CSV, and the
Parquet files of the EEA Air Quality Download Service that replaced those CSV downloads. One source,
`eea_air`; a landed file is read as Parquet when its name ends in `.parquet`, else as CSV.

The location is either a path glob with `{home}` and `{year}` (offline drops; each year of the
interval is read), or the download service's base URL (`https://...` or the demo feed server's
`http://127.0.0.1:8765/eea`). Over HTTP, `fetch` makes the two calls the maintained `airbase`
client makes (its parquet_api, version 1.0.0), through `citypeers.feeds.http` rather than airbase
itself: airbase is aiohttp/asyncio with its own session, retries and file writing, which would
bypass the fetch layer's retries with Retry-After, streaming into the landing zone with the hash,
conditional GET, content checks and errors naming feed, URL and status. The calls:

1. `POST {location}/ParquetFile/urls` with the JSON body airbase sends, one per dataset:
   `countries`, `cities` (options; an empty list is every city of the countries), `pollutants` as
   EEA vocabulary URLs (`http://dd.eionet.europa.eu/vocabulary/aq/pollutant/6001`, mapped from the
   notations PM2.5, PM10, NO2 of `options.pollutants`, as airbase maps them), `dataset` (airbase's
   numbering: 1 = E2a up-to-date unverified, 2 = E1a verified, 3 = Airbase historical, not read
   here), `source: "API"`, `dateTimeStart` / `dateTimeEnd` = the data interval in UTC
   (`yyyy-mm-ddTHH:MM:SSZ`) and `aggregationType: "hour"`. The answer is a CSV list (byte order
   mark, header `ParquetFileUrl`, one URL per line), landed as a payload (`*.urls.csv`);
2. `GET` each listed Parquet URL (checked to be Parquet), landed as it came.

`options.dataset` is `E1a`, `E2a` or both (`[E1a, E2a]`: verified years from E1a, the current one
from E2a; where both hold an hour, one row is kept: valid first, then verified, as for the CSV's
duplicates). The service picks whole files (one per sampling point) for the dates; parse keeps the
interval's hours, with the filter pushed into the Parquet scan, so a daily E2a schedule reads a day
of each file. A query the service rejects is a FeedError with its status and message; an empty list
is zero rows and a `no_parquet_files_listed` warning in the period's notices, not a failure.

Quirks of the real CSV export that the parser handles (see ../shared/data/eea_ereporting/):

- every hour can appear once per SamplingProcess of the same sampling point, with the same value.
  Counting both would double the hour in every mean, so parse keeps one row per station,
  pollutant and hour: a usable row before a broken one, a valid before an invalid one, verified
  (Verification 1) before preliminary (2) and unverified (3), then the lowest SamplingProcess id
  so the choice is stable across reruns;
- timestamps carry the reporting offset (`2013-01-30 01:00:00 +01:00`): `measured_at_utc` is the
  UTC start of the hour, `local_date` the calendar date as reported (the offset's own day);
- `Validity` > 0 means valid (1 valid, 2 and 3 valid below the detection limit; -1, -99 not valid);
- rows are not in time order, and the unit is spelled `µg/m3`.

Download-service Parquet files (one per sampling point and dataset; no real sample is stored here,
the tests convert the real CSV into this layout):

- columns `Samplingpoint` (text, `<country>/<sampling point id>`, e.g. `BE/SPO-BETR740_00005_100`),
  `Pollutant` (integer id of the EEA pollutant vocabulary: 5 PM10, 6001 PM2.5, 8 NO2), `Start` and
  `End` (timestamps without offset), `Value` (DECIMAL(38,18)), `Unit` (the EEA unit vocabulary's
  notation, `ug.m-3`), `AggType` (`hour`, `day`, ...), `Validity` and `Verification` (integers, the
  CSV's codes), and `ResultTime`, `DataCapture`, `FkObservationLog`, which the parser does not use;
- `Start` is the hour's start on the UTC+1 clock the EEA converts hourly data to (the CSV says
  `+01:00` openly): `measured_at_utc` is `Start` minus one hour and `local_date` the date of
  `Start`, as for the CSV. Italy's up-to-date (E2a) data are reported to be on local civil time
  instead; they would be an hour off in summer;
- a file names the sampling point, not the station. The sampling point id is free text chosen by
  each country: some embed the station's EoI code (`DE/SPO.DE_DEBB049_PM2_dataGroup1`), others do
  not (`ES/SP_39075006_10_49`), so the station is looked up, never guessed: the feed's
  `stations_file` may carry a `sampling_point` column (one row per sampling point, as the EEA
  station metadata lists them: `sampling_point,station_id,city_id`), or `sampling_points:` inline.
  An unmapped sampling point stands for its own station (enough for a feed with one `city_id`);
  otherwise its rows are quarantined with the reason;
- duplicates (two sampling points of one station and pollutant) are resolved as for the CSV, with
  the Samplingpoint in place of the SamplingProcess; `source_row` is the row in the file, from 1;
- cells are read by type, leniently: a Value given as text that is not a number, NaN, an unknown
  pollutant id or a non-hourly AggType is a row with its reason, not a failed file.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from citypeers.errors import FeedError
from citypeers.feeds import (
    empty_source_rows_sql,
    finish_air_rows,
    hours_in_interval_sql,
    http,
    mapping_table_sql,
    new_table_name,
    sql_identifier,
    sql_literal,
)
from citypeers.feeds.files import fetch_files
from citypeers.feeds.notices import Notices
from citypeers.feeds.payloads import LandedPayload, Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = (
    "AirQualityStationEoICode",
    "SamplingProcess",
    "AirPollutant",
    "AveragingTime",
    "Concentration",
    "UnitOfMeasurement",
    "DatetimeBegin",
    "Validity",
    "Verification",
)
POLLUTANT_BY_EEA_NAME = {"PM10": "pm10", "PM2.5": "pm25", "NO2": "no2"}
_DEDUPE_ORDER = "verification ASC NULLS LAST, sampling_process, payload_sha256, source_row"
_NO_ROWS = empty_source_rows_sql("NULL::INTEGER AS verification", "NULL::VARCHAR AS sampling_process")
_CSV_OPTIONS = "header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"'"


def fetch(feed: Feed, interval: Interval) -> list[Payload]:
    """The download service's files for the interval (an http(s) location), else every file
    matching the location for each year of the interval, in path order.

    Files are per year in the station's local time, so the first UTC hours of a year sit in the
    previous year's file: the years of the interval widened by a day are read, and parse keeps
    only the interval's hours."""
    if http.is_url(feed.location):
        return _fetch_download_service(feed, interval)
    widened = Interval.of(interval.start - timedelta(days=1), interval.end + timedelta(days=1))
    return fetch_files(feed, interval, years=widened.years())


def parse(
    con: duckdb.DuckDBPyConnection,
    payloads: list[LandedPayload],
    feed: Feed,
    interval: Interval,
    notices: Notices | None = None,
) -> duckdb.DuckDBPyRelation:
    """Landed EEA files (e-Reporting CSV and download-service Parquet, told apart by extension) →
    parsed air rows for the interval (one per station, pollutant, hour). The download service's
    file lists are not rows: an empty one is a warning notice."""
    lists = [p for p in payloads if is_file_list(p)]
    csv_payloads = [p for p in payloads if not is_parquet(p) and not is_file_list(p)]
    parquet_payloads = [p for p in payloads if is_parquet(p)]
    _note_empty_lists(lists, feed, notices)
    by_header: dict[tuple[str, ...], list[LandedPayload]] = {}
    for payload in csv_payloads:
        by_header.setdefault(_header(payload, feed), []).append(payload)
    selects = [_source_rows_sql(header, group, interval) for header, group in by_header.items()]
    table = new_table_name("eea_air_rows")
    try:
        con.execute(f"CREATE TEMP TABLE {table} AS {' UNION ALL '.join(selects) or _NO_ROWS}")
    except (duckdb.InvalidInputException, duckdb.IOException, duckdb.ConversionException) as exc:
        raise _csv_error(feed, csv_payloads, exc) from exc
    _insert_parquet_rows(con, table, parquet_payloads, feed, interval)
    return finish_air_rows(con, table, feed, interval, dedupe_order=_DEDUPE_ORDER)


def is_parquet(payload: LandedPayload) -> bool:
    return payload.path.suffix.lower() == ".parquet"


def is_file_list(payload: LandedPayload) -> bool:
    """The download service's answer to ParquetFile/urls, landed beside the files it lists."""
    return payload.path.name.lower().endswith(FILE_LIST_SUFFIX)


def _header(payload: LandedPayload, feed: Feed) -> tuple[str, ...]:
    """The column names of a file, checked to hold every column the parser needs."""
    with payload.path.open("rb") as handle:
        first_line = handle.readline()
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedError(
            feed.feed_id,
            "the header is not UTF-8 text",
            where=f"{payload.path} line 1",
            action="the file is not an e-Reporting CSV (binary, or another encoding); check the source",
        ) from exc
    header = tuple(name.strip() for name in next(csv.reader(io.StringIO(text)), []))
    if not header:
        raise FeedError(
            feed.feed_id,
            "empty file",
            where=str(payload.path),
            action="the download was cut off; fetch the period again",
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise FeedError(
            feed.feed_id,
            f"missing column(s) {', '.join(missing)}",
            where=f"{payload.path} line 1 (header: {','.join(header)})",
            action="the file is not in the EEA e-Reporting E1a layout; check the feed's location",
        )
    return header


def _source_rows_sql(header: tuple[str, ...], payloads: list[LandedPayload], interval: Interval) -> str:
    """One SELECT over files that share a header: every column read as text, then cast, so a bad
    cell becomes a row error with its reason instead of failing the whole file.

    Each file is its own scan numbered by a streaming `row_number() OVER ()` (it keeps file order,
    tested on the real file): numbering a multi-file scan and subtracting each file's first
    position took a window partitioned by file, which sorts all rows of a file on one thread (in
    2026-12 on 3.47M rows: 6.7 instead of 2.5 s a file). Rows are kept for the interval's hours
    (and rows without a readable time) here, the condition finish_air_rows applies, so a day of a
    yearly file casts, checks and copies a day's rows (it still tokenizes the whole file)."""
    by_path = {str(p.path): p.sha256 for p in payloads}  # identical payloads land at one path: read it once
    return " UNION ALL ".join(_file_rows_sql(header, path, sha256, interval) for path, sha256 in by_path.items())


def _file_rows_sql(header: tuple[str, ...], path: str, sha256: str, interval: Interval) -> str:
    """The source rows of one e-Reporting CSV file (see _source_rows_sql)."""
    columns = "{" + ", ".join(f"{sql_literal(name)}: 'VARCHAR'" for name in header) + "}"
    pollutants = ", ".join(f"({sql_literal(k)}, {sql_literal(v)})" for k, v in POLLUTANT_BY_EEA_NAME.items())
    return f"""
    SELECT
        station_id,
        coalesce(eea_pollutants.pollutant, lower(air_pollutant)) AS pollutant,
        measured_at_utc,
        CASE WHEN begins_at IS NOT NULL THEN try_cast(left(datetime_begin, 10) AS DATE) END AS local_date,
        concentration_value AS source_value,
        "UnitOfMeasurement" AS source_unit,
        coalesce(validity_flag > 0, false) AS is_valid,
        {sql_literal(sha256)} AS payload_sha256,
        source_row,
        nullif(concat_ws('; ',
            CASE WHEN station_id IS NULL THEN 'no AirQualityStationEoICode' END,
            CASE WHEN eea_pollutants.pollutant IS NULL
                THEN 'AirPollutant ' || coalesce(air_pollutant, '(empty)')
                    || ' is not PM10, PM2.5 or NO2' END,
            CASE WHEN begins_at IS NULL
                THEN 'unreadable DatetimeBegin ' || coalesce(datetime_begin, '(empty)') END,
            CASE WHEN coalesce(trim("AveragingTime"), '') <> 'hour'
                THEN 'AveragingTime ' || coalesce("AveragingTime", '(empty)') || ' is not hour' END,
            CASE WHEN concentration_text IS NOT NULL
                    AND (concentration_value IS NULL OR NOT isfinite(concentration_value))
                THEN 'unreadable Concentration ' || concentration_text END,
            CASE WHEN concentration_text IS NULL AND validity_flag > 0
                THEN 'valid-flagged hour without Concentration' END,
            CASE WHEN validity_flag IS NULL THEN 'unreadable Validity ' || coalesce("Validity", '(empty)') END
        ), '') AS row_error,
        try_cast("Verification" AS INTEGER) AS verification,
        "SamplingProcess" AS sampling_process
    FROM (
        SELECT
            *,
            nullif(trim("AirQualityStationEoICode"), '') AS station_id,
            nullif(trim("AirPollutant"), '') AS air_pollutant,
            nullif(trim("Concentration"), '') AS concentration_text,
            try_cast(trim("Concentration") AS DOUBLE) AS concentration_value,
            try_cast(trim("Validity") AS INTEGER) AS validity_flag
        FROM (
            SELECT *, timezone('UTC', begins_at) AS measured_at_utc
            FROM (
                SELECT
                    *,
                    trim("DatetimeBegin") AS datetime_begin,
                    try_strptime(trim("DatetimeBegin"), '%Y-%m-%d %H:%M:%S %z') AS begins_at
                FROM (
                    -- the header is line 1
                    SELECT *, row_number() OVER () + 1 AS source_row
                    FROM read_csv({sql_literal(path)}, {_CSV_OPTIONS}, columns = {columns})
                )
            )
        )
        WHERE {hours_in_interval_sql("measured_at_utc", interval)}
    ) AS cells
    LEFT JOIN (VALUES {pollutants}) AS eea_pollutants(eea_name, pollutant)
        ON cells.air_pollutant = eea_pollutants.eea_name
    """


def _csv_error(feed: Feed, payloads: list[LandedPayload], exc: duckdb.Error) -> FeedError:
    """DuckDB's CSV error → which file and line, and what is wrong, in one readable sentence."""
    message = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", message)
    file = re.search(r"^\s*file = (.+)$", message, re.MULTILINE)
    columns = re.search(r"Expected Number of Columns: \d+ Found: \d+", message)
    where = file.group(1).strip() if file else ", ".join(str(p.path) for p in payloads)
    if line:
        where += f" line {line.group(1)}"
    problem = columns.group(0) if columns else message.splitlines()[0]
    return FeedError(
        feed.feed_id,
        f"unreadable CSV ({problem})",
        where=where,
        action="the file is truncated or not in the e-Reporting layout; fetch the period again, "
        "or fix the source file, then re-parse",
    )


# --- EEA Air Quality Download Service: Parquet files -------------------------------------------

PARQUET_REQUIRED_COLUMNS = (
    "Samplingpoint",
    "Pollutant",
    "Start",
    "Value",
    "Unit",
    "AggType",
    "Validity",
    "Verification",
)
# Ids of the EEA pollutant vocabulary (dd.eionet.europa.eu/vocabulary/aq/pollutant)
POLLUTANT_BY_EEA_CODE = {"5": "pm10", "6001": "pm25", "8": "no2"}
# Start and End carry no offset; the service gives them in UTC+1, as the CSV's "+01:00" says openly.
DOWNLOAD_SERVICE_UTC_HOURS = 1
DOWNLOAD_SERVICE_UTC_OFFSET = f"INTERVAL {DOWNLOAD_SERVICE_UTC_HOURS} HOUR"
_NUMERIC_TYPES = {
    "DECIMAL", "DOUBLE", "FLOAT", "REAL", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}


def _insert_parquet_rows(
    con: duckdb.DuckDBPyConnection, table: str, payloads: list[LandedPayload], feed: Feed, interval: Interval
) -> None:
    """Append the source rows of download-service Parquet files, one scan per distinct schema."""
    by_schema: dict[tuple[tuple[str, str], ...], list[LandedPayload]] = {}
    for payload in payloads:
        by_schema.setdefault(_parquet_schema(con, payload, feed), []).append(payload)
    for schema, group in by_schema.items():
        try:
            con.execute(f"INSERT INTO {table} {_parquet_source_rows_sql(dict(schema), group, feed, interval)}")
        except (duckdb.InvalidInputException, duckdb.IOException, duckdb.ConversionException) as exc:
            raise _parquet_error(feed, group, exc) from exc


def _parquet_schema(
    con: duckdb.DuckDBPyConnection, payload: LandedPayload, feed: Feed
) -> tuple[tuple[str, str], ...]:
    """(column, type) of a Parquet file, checked to hold every column the parser needs."""
    try:
        described = con.sql(f"DESCRIBE SELECT * FROM read_parquet({sql_literal(str(payload.path))})").fetchall()
    except (duckdb.InvalidInputException, duckdb.IOException) as exc:
        raise _parquet_error(feed, [payload], exc) from exc
    schema = tuple((name, sql_type) for name, sql_type, *_ in described)
    names = [name for name, _ in schema]
    missing = [name for name in PARQUET_REQUIRED_COLUMNS if name not in names]
    if missing:
        raise FeedError(
            feed.feed_id,
            f"missing column(s) {', '.join(missing)}",
            where=f"{payload.path} (columns: {','.join(names)})",
            action="the file is not in the EEA Air Quality Download Service layout "
            f"({', '.join(PARQUET_REQUIRED_COLUMNS)}); check the feed's location",
        )
    return schema


def _as_number(column: str, sql_type: str, target: str) -> str:
    """A cell as DOUBLE or INTEGER: a plain cast for numeric columns, a lenient one for text."""
    quoted = sql_identifier(column)
    if sql_type.split("(")[0] in _NUMERIC_TYPES:
        return f"try_cast({quoted} AS {target})"
    return f"try_cast(trim(CAST({quoted} AS VARCHAR)) AS {target})"


def _as_clock_time(sql_type: str) -> str:
    """Start as the naive UTC+1 wall-clock time the service means (an instant, if typed as one)."""
    if sql_type.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"timezone('UTC', \"Start\") + {DOWNLOAD_SERVICE_UTC_OFFSET}"
    if sql_type.startswith("TIMESTAMP"):
        return 'CAST("Start" AS TIMESTAMP)'
    return 'try_cast(trim(CAST("Start" AS VARCHAR)) AS TIMESTAMP)'


def _as_pollutant_code(sql_type: str) -> str:
    """The vocabulary id as text: '6001' from 6001, '6001' or '.../aq/pollutant/6001'."""
    if sql_type.split("(")[0] in _NUMERIC_TYPES:
        return 'CAST("Pollutant" AS VARCHAR)'
    return "nullif(regexp_extract(trim(CAST(\"Pollutant\" AS VARCHAR)), '(\\d+)$', 1), '')"


def _start_in_interval_sql(sql_type: str, interval: Interval) -> str:
    """The interval's hours as a condition on the file's own `Start` column (UTC+1 clock), which
    DuckDB pushes into the Parquet scan, where row-group statistics skip the rest of the file: a
    day's ingest of a year-long E2a file reads about a day. (A condition on the shifted UTC hour is
    evaluated row by row: 5-7x slower on a 5M-row file in row groups of 20k, 475 vs 70-110 ms.)
    Only for a typed TIMESTAMP column; the outer interval filter stays, for every layout."""
    if sql_type not in ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"):
        return ""
    shift = timedelta(hours=DOWNLOAD_SERVICE_UTC_HOURS)
    return "WHERE " + hours_in_interval_sql('"Start"', Interval(interval.start + shift, interval.end + shift))


def _parquet_source_rows_sql(
    schema: dict[str, str], payloads: list[LandedPayload], feed: Feed, interval: Interval
) -> str:
    """One SELECT over Parquet files that share a schema, in the source-row columns of the CSV path,
    for the interval's hours (and rows without a readable Start).

    The station is the one the feed maps the sampling point to, else the sampling point itself
    (a single-city feed needs no mapping); `source_row` is the row's position in the file, from 1."""
    by_path = {str(p.path): p.sha256 for p in payloads}
    files = "[" + ", ".join(sql_literal(path) for path in by_path) + "]"
    hashes = ", ".join(f"({sql_literal(path)}, {sql_literal(sha256)})" for path, sha256 in by_path.items())
    codes = ", ".join(f"({sql_literal(k)}, {sql_literal(v)})" for k, v in POLLUTANT_BY_EEA_CODE.items())
    unmapped = sql_literal(
        f" has no station in feed {feed.feed_id}; add it to the stations_file column sampling_point"
    )
    return f"""
    SELECT
        coalesce(sampling_points.mapped_station, cells.sampling_point) AS station_id,
        coalesce(eea_codes.eea_pollutant, cells.pollutant_code) AS pollutant,
        clock_start - {DOWNLOAD_SERVICE_UTC_OFFSET} AS measured_at_utc,
        CAST(clock_start AS DATE) AS local_date,
        value_number AS source_value,
        "Unit" AS source_unit,
        coalesce(validity_flag > 0, false) AS is_valid,
        payload_hashes.payload_sha256,
        file_row_number + 1 AS source_row,
        nullif(concat_ws('; ',
            CASE WHEN cells.sampling_point IS NULL THEN 'no Samplingpoint' END,
            CASE WHEN cells.sampling_point IS NOT NULL AND sampling_points.mapped_station IS NULL
                    AND {sql_literal(feed.city_id)}::VARCHAR IS NULL
                THEN 'Samplingpoint ' || cells.sampling_point || {unmapped} END,
            CASE WHEN eea_codes.eea_pollutant IS NULL
                THEN 'Pollutant ' || coalesce(CAST(cells."Pollutant" AS VARCHAR), '(empty)')
                    || ' is not PM10 (5), PM2.5 (6001) or NO2 (8)' END,
            CASE WHEN clock_start IS NULL
                THEN 'unreadable Start ' || coalesce(CAST("Start" AS VARCHAR), '(empty)') END,
            CASE WHEN coalesce(trim("AggType"), '') <> 'hour'
                THEN 'AggType ' || coalesce("AggType", '(empty)') || ' is not hour' END,
            CASE WHEN "Value" IS NOT NULL AND (value_number IS NULL OR NOT isfinite(value_number))
                THEN 'unreadable Value ' || CAST("Value" AS VARCHAR) END,
            CASE WHEN "Value" IS NULL AND validity_flag > 0 THEN 'valid-flagged hour without Value' END,
            CASE WHEN validity_flag IS NULL
                THEN 'unreadable Validity ' || coalesce(CAST("Validity" AS VARCHAR), '(empty)') END
        ), '') AS row_error,
        verification_flag AS verification,
        cells.sampling_point AS sampling_process
    FROM (
        SELECT
            *,
            nullif(trim("Samplingpoint"), '') AS sampling_point,
            {_as_pollutant_code(schema["Pollutant"])} AS pollutant_code,
            {_as_clock_time(schema["Start"])} AS clock_start,
            {_as_number("Value", schema["Value"], "DOUBLE")} AS value_number,
            {_as_number("Validity", schema["Validity"], "INTEGER")} AS validity_flag,
            {_as_number("Verification", schema["Verification"], "INTEGER")} AS verification_flag
        FROM read_parquet({files}, filename = true, file_row_number = true)
        {_start_in_interval_sql(schema["Start"], interval)}
    ) AS cells
    LEFT JOIN (VALUES {hashes}) AS payload_hashes(filename, payload_sha256) USING (filename)
    LEFT JOIN (VALUES {codes}) AS eea_codes(eea_code, eea_pollutant) ON cells.pollutant_code = eea_codes.eea_code
    LEFT JOIN {mapping_table_sql(feed.sampling_points, 'sampling_points', 'mapped_point', 'mapped_station')}
        ON cells.sampling_point = sampling_points.mapped_point
    WHERE {hours_in_interval_sql(f"clock_start - {DOWNLOAD_SERVICE_UTC_OFFSET}", interval)}
    """


def _parquet_error(feed: Feed, payloads: list[LandedPayload], exc: duckdb.Error) -> FeedError:
    return FeedError(
        feed.feed_id,
        f"unreadable Parquet file ({str(exc).splitlines()[0]})",
        where=", ".join(str(p.path) for p in payloads),
        action="the download was cut off or the file is not Parquet; fetch the period again, "
        "then re-parse",
    )


# --- EEA Air Quality Download Service: the HTTP calls (airbase's, through the fetch layer) -------

# airbase's Dataset: Unverified = UTD = E2a = 1, Verified = E1a = 2, Historical = Airbase = 3
DATASET_IDS = {"E2a": 1, "E1a": 2}
POLLUTANT_VOCABULARY = "http://dd.eionet.europa.eu/vocabulary/aq/pollutant/"
# notation → vocabulary id (PM2.5 6001, PM10 5, NO2 8), which airbase turns into vocabulary URLs
POLLUTANT_IDS = {
    name: int(code)
    for name, pollutant in POLLUTANT_BY_EEA_NAME.items()
    for code, coded in POLLUTANT_BY_EEA_CODE.items()
    if coded == pollutant
}
FILE_LIST_SUFFIX = ".urls.csv"
FILE_LIST_HEADER = "ParquetFileUrl"
_KEPT_BODY = re.compile(r"the response body is kept in (\S+)")


def _option_names(feed: Feed, name: str) -> list[str]:
    value = feed.options.get(name) or []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise FeedError(feed.feed_id, f"options.{name} {value!r} is not a list of names", where="feeds.yml options",
                        action=f"write options.{name} as a list, e.g. {name}: [ES]", retryable=False)
    return [v.strip() for v in values]


def _datasets(feed: Feed) -> list[str]:
    datasets = _option_names(feed, "dataset") or ["E1a"]
    unknown = [d for d in datasets if d not in DATASET_IDS]
    if unknown:
        raise FeedError(feed.feed_id, f"options.dataset {', '.join(unknown)} is not E1a or E2a",
                        where="feeds.yml options",
                        action="use E1a (verified), E2a (up to date, unverified) or [E1a, E2a]", retryable=False)
    return list(dict.fromkeys(datasets))


def _service_time(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"


def download_requests(feed: Feed, interval: Interval) -> list[dict]:
    """The ParquetFile/urls request bodies for the interval, one per dataset, as airbase builds them."""
    countries = _option_names(feed, "countries")
    if not countries:
        raise FeedError(feed.feed_id, "options.countries is empty: the query would ask for every country in Europe",
                        where="feeds.yml options",
                        action="list the ISO 3166 alpha-2 codes, e.g. countries: [ES] (and cities: [Madrid])",
                        retryable=False)
    pollutants = _option_names(feed, "pollutants") or list(POLLUTANT_IDS)
    unknown = [p for p in pollutants if p not in POLLUTANT_IDS]
    if unknown:
        raise FeedError(feed.feed_id, f"options.pollutants {', '.join(unknown)} not read by eea_air",
                        where="feeds.yml options", action=f"use some of {', '.join(POLLUTANT_IDS)}",
                        retryable=False)
    return [
        {
            "countries": countries,
            "cities": _option_names(feed, "cities"),
            "pollutants": [f"{POLLUTANT_VOCABULARY}{POLLUTANT_IDS[p]}" for p in pollutants],
            "dataset": DATASET_IDS[dataset],
            "source": "API",
            "dateTimeStart": _service_time(interval.start),
            "dateTimeEnd": _service_time(interval.end),
            "aggregationType": "hour",
        }
        for dataset in _datasets(feed)
    ]


def _fetch_download_service(feed: Feed, interval: Interval) -> list[Payload]:
    """Each dataset's file list, then every listed Parquet file once, all landed."""
    endpoint = feed.location.rstrip("/") + "/ParquetFile/urls"
    session = http.session(feed)
    payloads: list[Payload] = []
    urls: dict[str, None] = {}
    with session:
        for body in download_requests(feed, interval):
            try:
                listing = http.get(feed, interval, endpoint, expect="csv", method="POST", json_body=body,
                                   session=session, suffix=FILE_LIST_SUFFIX)
            except FeedError as error:
                raise _rejected_query(feed, error) from error
            payloads.append(listing)
            urls.update(dict.fromkeys(_listed_urls(feed, interval, listing, endpoint)))
        for url in urls:
            payloads.append(http.get(feed, interval, url, expect="parquet", session=session, suffix=".parquet"))
    return payloads


def _listed_urls(feed: Feed, interval: Interval, listing: Payload, endpoint: str) -> list[str]:
    """The URLs of a ParquetFile/urls answer (BOM, header line, one absolute URL per line, which
    airbase keeps; anything else means the location is not the service)."""
    urls, strange = [], []
    for line in _listed_lines(listing.file):
        (urls if http.is_url(line) and " " not in line else strange).append(line)
    if strange:
        kept = http.reject(feed, interval, listing, "not a list of Parquet URLs")
        raise FeedError(
            feed.feed_id,
            f"the file list has lines that are not URLs (first: {strange[0][:120]!r}); it is kept in {kept}",
            where=f"POST {endpoint}",
            action="check the feed's location: it must be the download service's base URL",
            retryable=False,
        )
    return urls


def _rejected_query(feed: Feed, error: FeedError) -> FeedError:
    """A 4xx to the urls query, with the service's own message (a validation problem's `errors`)."""
    kept = _KEPT_BODY.search(error.problem)
    if not error.problem.startswith("HTTP 4") or not kept:
        return error
    try:
        text = Path(kept.group(1)).read_bytes()[:4096].decode("utf-8", "replace").strip()
    except OSError:
        return error
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        message = text.splitlines()[0][:300] if text else ""
    else:
        details = document.get("errors") if isinstance(document, dict) else None
        if isinstance(details, dict):
            message = "; ".join(f"{k}: {' '.join(map(str, v if isinstance(v, list) else [v]))}"
                                for k, v in details.items())
        elif isinstance(document, dict):
            message = str(document.get("detail") or document.get("title") or document.get("message") or text)[:300]
        else:
            message = text[:300]
    status = error.problem.split(":", 1)[0]
    return FeedError(
        feed.feed_id,
        f"the download service rejected the query ({status}: {message or 'no message'}); "
        f"the response is kept in {kept.group(1)}",
        where=error.where,
        action="check options.countries, cities, pollutants and dataset in feeds.yml against the service "
        "(countries as ISO codes, cities as the service spells them, dataset E1a or E2a)",
        retryable=error.retryable,
    )


def _note_empty_lists(lists: list[LandedPayload], feed: Feed, notices: Notices | None) -> None:
    """File lists that name no file at all are zero rows for the period: recorded as a warning, never
    a failed interval (a country that transmitted nothing that day, a city without stations for a
    pollutant). With several datasets one empty list is expected (E1a has no current year)."""
    if not lists or any(_listed_lines(listing.path) for listing in lists):
        return
    asked = "; ".join(_describe_request(listing.request) for listing in lists)
    message = f"the download service listed no Parquet file ({asked}): no rows for this period"
    log.warning("feed %s: %s", feed.feed_id, message)
    if notices is not None:
        notices.add(lists[0].path.name, "no_parquet_files_listed", "warning", message)


def _listed_lines(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8-sig", "replace")
    return [line.strip() for line in text.splitlines() if line.strip() and line.strip() != FILE_LIST_HEADER]


def _describe_request(request: str) -> str:
    """'dataset E2a, countries ES, 2025-06-10T00:00:00Z to 2025-06-11T00:00:00Z' from a landed POST."""
    try:
        body = json.loads(request[request.index("{"):])
        dataset = {number: name for name, number in DATASET_IDS.items()}.get(body["dataset"], body["dataset"])
        cities = f", cities {', '.join(body['cities'])}" if body.get("cities") else ""
        return (f"dataset {dataset}, countries {', '.join(body['countries'])}{cities}, "
                f"{body['dateTimeStart']} to {body['dateTimeEnd']}")
    except (ValueError, KeyError, TypeError):
        return request
