"""OpenAQ API v3 → parsed air measurements.

The location is the API base URL (`http://127.0.0.1:8765/v3`, or `https://api.openaq.org/v3`);
the feed's stations are OpenAQ location ids. `fetch` lists each location's sensors
(`/locations/{id}/sensors`) and pages through the hourly measurements of its PM2.5, PM10 and NO₂
sensors for the interval (`/sensors/{id}/measurements`), keeping every response body as it came.
Every request goes through the fetch layer (`citypeers.feeds.http`: retries, Retry-After, ETags);
the API key comes from the Airflow Connection named by `options.connection` (sent as X-API-Key).

A measurements page does not name its sensor or location, so `parse` takes the sensor from the
page's request URL and the location, parameter and unit from the landed sensors pages. OpenAQ has
no validity code; a measurement is valid unless OpenAQ flagged it (`flagInfo.hasFlags`).

Then the values are checked (docs/feed_validation.md, "OpenAQ"), each finding a notice: the -9999
no-data sentinel, a negative value, a value above the plausible bound of its pollutant in µg/m³
(after unit conversion), and several values for one station, pollutant and hour leave the row out
(quarantined with the code as reason, as every broken air row); an exact repeat of a row is dropped
once and recorded; the hours of the interval without a usable value are counted per sensor.
"""

from __future__ import annotations

import json
import re
from typing import Any

import duckdb
import requests

from citypeers import units
from citypeers.errors import FeedError
from citypeers.feeds import empty_source_rows_sql, finish_air_rows, http, new_table_name, sql_literal
from citypeers.feeds.notices import Notices
from citypeers.feeds.payloads import LandedPayload, Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed

_SENSORS_PATH = re.compile(r"/locations/(\d+)/sensors(?:\?|$)")
_MEASUREMENTS_PATH = re.compile(r"/sensors/(\d+)/measurements(?:\?|$)")
_MAX_PAGES = 100_000
# period.datetimeFrom.utc as a UTC TIMESTAMP; read with its offset when it has one ("Z", "+00:00"),
# else as UTC, never in the session's time zone.
_UTC_SQL = """CASE
    WHEN regexp_matches(result ->> '$.period.datetimeFrom.utc', '(Z|[+-]\\d\\d:?\\d\\d)$')
        THEN timezone('UTC', try_cast(result ->> '$.period.datetimeFrom.utc' AS TIMESTAMPTZ))
    ELSE try_cast(result ->> '$.period.datetimeFrom.utc' AS TIMESTAMP) END"""
_PAGE = re.compile(r"[?&]page=(\d+)")
# OpenAQ's no-data marker in `value` (a missing hour, not a concentration).
SENTINEL = -9999
# Hourly concentrations above these (µg/m³, units.CANONICAL_UNIT) are sensor or unit faults, not air:
# generous, so that real episodes pass (Delhi's worst winter hours reach about 1,000 µg/m³ of PM2.5;
# dust storms several thousand of PM10, capped by the parsed__openaq_air suite's 5,000; NO₂ at the
# bound is about 1 ppm, 5 times the EU one-hour alert threshold of 400).
PLAUSIBLE_MAX_UG_M3 = {"pm25": 2000.0, "pm10": 5000.0, "no2": 2000.0}


def _page(
    feed: Feed, interval: Interval, session: requests.Session, url: str, params: dict[str, Any]
) -> tuple[Payload, list]:
    """One page through the fetch layer (retries, Retry-After, conditional GET, content check),
    with its `results` read from the streamed file."""
    payload = http.get(feed, interval, url, expect="json", params=params, session=session)
    try:
        results = json.loads(payload.file.read_bytes())["results"]
    except (ValueError, KeyError, TypeError) as exc:
        kept = http.reject(feed, interval, payload, "not an OpenAQ page")
        raise FeedError(
            feed.feed_id,
            f"HTTP {payload.http['status']}: the response is not an OpenAQ page ({exc.__class__.__name__}: "
            f"{exc}); the body is kept in {kept}",
            where=payload.request,
            action="retry the period; if it persists the API changed its format",
        ) from exc
    if not isinstance(results, list):
        kept = http.reject(feed, interval, payload, "'results' is not a list")
        raise FeedError(feed.feed_id, f"HTTP {payload.http['status']}: 'results' is not a list; the body is "
                        f"kept in {kept}", where=payload.request, action="retry the period")
    return payload, results


def _pages(
    feed: Feed, interval: Interval, session: requests.Session, url: str, params: dict[str, Any]
) -> list[tuple[Payload, list]]:
    """Every page of one listing, until a page holds fewer results than the limit."""
    limit = int(feed.options.get("page_limit", 1000))
    pages = []
    for page in range(1, _MAX_PAGES + 1):
        payload, results = _page(feed, interval, session, url, {**params, "limit": limit, "page": page})
        pages.append((payload, results))
        if len(results) < limit:
            return pages
    raise FeedError(feed.feed_id, f"more than {_MAX_PAGES} pages", where=url, action="use a shorter interval")


def _utc(moment) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def fetch(feed: Feed, interval: Interval) -> list[Payload]:
    """Sensors pages of every station, then every measurements page of its PM2.5, PM10 and NO₂ sensors."""
    if not feed.stations:
        raise FeedError(
            feed.feed_id,
            "no stations (OpenAQ location ids) to fetch",
            action="add `stations` or `stations_file` (station_id = OpenAQ location id, city_id) to the feed",
        )
    base = feed.resolved_location().rstrip("/")
    window = {"datetime_from": _utc(interval.start), "datetime_to": _utc(interval.end)}
    payloads: list[Payload] = []
    with http.session(feed) as session:
        for location_id in sorted(feed.stations, key=lambda station: (len(station), station)):
            sensor_pages = _pages(feed, interval, session, f"{base}/locations/{location_id}/sensors", {})
            payloads += [payload for payload, _ in sensor_pages]
            sensor_ids = [
                sensor.get("id")
                for _, results in sensor_pages
                for sensor in results
                if isinstance(sensor, dict)
                and (sensor.get("parameter") or {}).get("name") in units.POLLUTANTS
            ]
            for sensor_id in sensor_ids:
                pages = _pages(feed, interval, session, f"{base}/sensors/{sensor_id}/measurements", window)
                payloads += [payload for payload, _ in pages]
    return payloads


def _sensors(payloads: list[LandedPayload], feed: Feed) -> dict[int, tuple[str, str | None, str | None]]:
    """sensor id → (location id, parameter name, units), from the landed sensors pages."""
    sensors = {}
    for payload in payloads:
        location_id = _SENSORS_PATH.search(payload.request).group(1)
        for index, sensor in enumerate(_results(payload, feed)):
            parameter = sensor.get("parameter") if isinstance(sensor, dict) else None
            if not isinstance(sensor, dict) or "id" not in sensor or not isinstance(parameter, dict):
                raise FeedError(
                    feed.feed_id,
                    "a sensor without id or parameter",
                    where=f"{payload.path} results[{index}]",
                    action="re-fetch the period; if it persists the API changed its format",
                )
            sensors[int(sensor["id"])] = (location_id, parameter.get("name"), parameter.get("units"))
    return sensors


def _results(payload: LandedPayload, feed: Feed) -> list:
    try:
        document = json.loads(payload.path.read_bytes())
    except ValueError as exc:
        position = f" line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise FeedError(
            feed.feed_id,
            f"malformed JSON ({exc.__class__.__name__}: {exc})",
            where=f"{payload.path}{position} (request {payload.request})",
            action="the response was cut off or is not JSON; fetch the period again",
        ) from exc
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list):
        raise FeedError(
            feed.feed_id,
            "no 'results' list",
            where=f"{payload.path} (request {payload.request})",
            action="the response is not an OpenAQ v3 page; check the feed's location",
        )
    return results


def parse(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, interval: Interval,
    notices: Notices | None = None,
) -> duckdb.DuckDBPyRelation:
    """Landed sensors and measurements pages → parsed air rows for the interval, checked."""
    notices = notices if notices is not None else Notices(feed.feed_id, interval.label)
    sensor_pages, measurement_pages = [], []
    for payload in payloads:
        if _SENSORS_PATH.search(payload.request):
            sensor_pages.append(payload)
        elif _MEASUREMENTS_PATH.search(payload.request):
            measurement_pages.append(payload)
        else:
            raise FeedError(
                feed.feed_id,
                "a payload that is neither a sensors nor a measurements page",
                where=f"{payload.path} (request {payload.request})",
                action="land only what openaq_air.fetch returned for the period",
            )
    sensors = _sensors(sensor_pages, feed)
    table = new_table_name("openaq_air_rows")
    if not measurement_pages:
        con.execute(f"CREATE TEMP TABLE {table} AS {empty_source_rows_sql()}")
        return finish_air_rows(con, table, feed, interval)
    _check_pages(con, measurement_pages, sensors, feed)
    con.execute(f"CREATE TEMP TABLE {table} AS {_source_rows_sql(measurement_pages, sensors)}")
    _check_required_fields(con, table, measurement_pages, feed)
    return _checked_rows(con, finish_air_rows(con, table, feed, interval), measurement_pages, interval, notices)


def _page_label(page: LandedPayload) -> str:
    """A measurements page in notices: its sensor and page number."""
    number = _PAGE.search(page.request)
    return f"sensors/{_sensor_of(page)}/measurements?page={number.group(1) if number else 1}"


def _checked_rows(
    con: duckdb.DuckDBPyConnection, finished: duckdb.DuckDBPyRelation, pages: list[LandedPayload],
    interval: Interval, notices: Notices,
) -> duckdb.DuckDBPyRelation:
    """The parsed rows with the value checks added to `parse_error`, exact repeats dropped, and
    every finding (and each sensor's missing hours) recorded as a notice."""
    parsed, checked = new_table_name("openaq_air_parsed"), new_table_name("openaq_air_checked")
    con.register(parsed, finished)
    bounds = ", ".join(f"({sql_literal(p)}, {bound})" for p, bound in sorted(PLAUSIBLE_MAX_UG_M3.items()))
    con.execute(f"""
    CREATE TEMP TABLE {checked} AS
    SELECT * EXCLUDE (copies, same_values, copy_number, plausible_max, value_check, parse_error),
        nullif(concat_ws('; ', parse_error, value_check,
            CASE WHEN copies > 1 AND NOT same_values
                 THEN 'duplicate_sensor_hour: ' || copies || ' different values for this station, pollutant and hour'
            END), '') AS parse_error,
        value_check, copies, same_values
    FROM (
        SELECT rows.*, bounds.plausible_max,
            count(*) OVER same_hour AS copies,
            min(source_value) OVER same_hour IS NOT DISTINCT FROM max(source_value) OVER same_hour
                AND min(source_unit) OVER same_hour IS NOT DISTINCT FROM max(source_unit) OVER same_hour
                AND bool_and(is_valid) OVER same_hour = bool_or(is_valid) OVER same_hour AS same_values,
            row_number() OVER (same_hour ORDER BY payload_sha256, source_row) AS copy_number,
            CASE WHEN source_value = {SENTINEL}
                     THEN 'sentinel_value: {SENTINEL} is OpenAQ''s no-data marker, not a concentration'
                 WHEN source_value < 0 THEN 'negative_value: ' || source_value || ' ' || source_unit
                     || ' (a concentration cannot be negative)'
                 WHEN rows.value > bounds.plausible_max THEN 'implausible_value: ' || round(rows.value, 1)
                     || ' µg/m³ is above the plausible bound of ' || bounds.plausible_max || ' for ' || rows.pollutant
            END AS value_check
        FROM {parsed} AS rows
        LEFT JOIN (VALUES {bounds}) AS bounds(pollutant, plausible_max) USING (pollutant)
        WINDOW same_hour AS (PARTITION BY station_id, pollutant, coalesce(measured_at_utc, TIMESTAMP '-infinity'),
                             CASE WHEN measured_at_utc IS NULL THEN payload_sha256 || source_row END)
    )
    WHERE copy_number = 1 OR NOT same_values
    """)
    labels = ", ".join(f"({sql_literal(page.sha256)}, {sql_literal(_page_label(page))}, {_sensor_of(page)})"
                       for page in pages)
    page_labels = f"(VALUES {labels}) AS pages(payload_sha256, page_label, sensor_id)"
    notices.add_rows(con.sql(f"""
        SELECT page_label, source_row, 'value', regexp_extract(value_check, '^([a-z_]+):', 1), 'flagged',
            value_check || '; the row is left out'
        FROM {checked} JOIN {page_labels} USING (payload_sha256) WHERE value_check IS NOT NULL
        UNION ALL
        SELECT page_label, source_row, 'period.datetimeFrom.utc', 'duplicate_sensor_hour',
            CASE WHEN same_values THEN 'notice' ELSE 'flagged' END,
            CASE WHEN same_values THEN copies || ' identical rows for ' || station_id || ' ' || pollutant || ' '
                     || strftime(measured_at_utc, '%Y-%m-%dT%H:%MZ') || ': kept once'
                 ELSE copies || ' different values for ' || station_id || ' ' || pollutant || ' '
                     || strftime(measured_at_utc, '%Y-%m-%dT%H:%MZ') || ': every one is left out' END
        FROM {checked} JOIN {page_labels} USING (payload_sha256) WHERE copies > 1
        ORDER BY 1, 2
    """).fetchall())
    _missing_hours(con, checked, page_labels, interval, notices)
    return con.sql(f"SELECT * EXCLUDE (value_check, copies, same_values) FROM {checked} "
                   "ORDER BY station_id, pollutant, measured_at_utc, payload_sha256, source_row")


def _missing_hours(con: duckdb.DuckDBPyConnection, checked: str, page_labels: str, interval: Interval,
                   notices: Notices) -> None:
    """Per sensor with a landed measurements page: the interval's hours without a usable value,
    and the longest run of them."""
    hours = int((interval.end - interval.start).total_seconds() // 3600)
    start, end = f"TIMESTAMP '{interval.start:%Y-%m-%d %H:%M:%S}'", f"TIMESTAMP '{interval.end:%Y-%m-%d %H:%M:%S}'"
    notices.add_rows(con.sql(f"""
        WITH sensors AS (
            SELECT sensor_id, min(page_label) AS page_label, min(payload_sha256) AS first_page
            FROM {page_labels} GROUP BY sensor_id
        ),
        usable AS (
            SELECT DISTINCT pages.sensor_id, date_trunc('hour', measured_at_utc) AS hour
            FROM {checked} JOIN {page_labels} USING (payload_sha256)
            WHERE parse_error IS NULL AND measured_at_utc >= {start} AND measured_at_utc < {end}
        ),
        edges AS (
            SELECT sensor_id, hour, lag(hour) OVER (PARTITION BY sensor_id ORDER BY hour) AS previous
            FROM (SELECT * FROM usable UNION ALL SELECT sensor_id, {end} FROM sensors)
        ),
        gaps AS (
            SELECT sensor_id,
                sum(datediff('hour', coalesce(previous + INTERVAL 1 HOUR, {start}), hour)) AS missing,
                arg_max(coalesce(previous + INTERVAL 1 HOUR, {start}),
                        datediff('hour', coalesce(previous + INTERVAL 1 HOUR, {start}), hour)) AS gap_start,
                max(datediff('hour', coalesce(previous + INTERVAL 1 HOUR, {start}), hour)) AS longest
            FROM edges GROUP BY sensor_id
        )
        SELECT page_label, NULL, 'period.datetimeFrom.utc', 'missing_hours', 'notice',
            missing || ' of {hours} hours of the interval have no usable value (longest gap: ' || longest
            || ' hour(s) from ' || strftime(gap_start, '%Y-%m-%dT%H:%MZ')
            || '); a day needs min_valid_hours_per_day valid hours'
        FROM gaps JOIN sensors USING (sensor_id) WHERE missing > 0 ORDER BY page_label
    """).fetchall())


def _sensor_of(measurements_page: LandedPayload) -> int:
    """A measurements page does not name its sensor; its request URL does."""
    return int(_MEASUREMENTS_PATH.search(measurements_page.request).group(1))


def _files_sql(pages: list[LandedPayload]) -> str:
    unique_paths = dict.fromkeys(str(page.path) for page in pages)
    return "[" + ", ".join(sql_literal(path) for path in unique_paths) + "]"


def _check_pages(
    con: duckdb.DuckDBPyConnection, pages: list[LandedPayload], sensors: dict, feed: Feed
) -> None:
    """Whole-page problems before reading rows: a sensor no landed sensors page lists, bad JSON,
    or no `results` list."""
    for page in pages:
        sensor_id = _sensor_of(page)
        if sensor_id not in sensors:
            raise FeedError(
                feed.feed_id,
                f"measurements of sensor {sensor_id}, which no landed sensors page lists",
                where=f"{page.path} (request {page.request})",
                action="re-fetch the whole period so its sensors pages are landed with its measurements",
            )
    broken = con.sql(f"""
        SELECT filename FROM read_text({_files_sql(pages)})
        WHERE CASE WHEN json_valid(content) THEN json_type(content::JSON -> 'results') END
            IS DISTINCT FROM 'ARRAY'
        ORDER BY filename LIMIT 1
    """).fetchone()
    if broken:
        by_file = {str(page.path): page for page in pages}
        _results(by_file[broken[0]], feed)  # raises the precise error, with line and column
        raise FeedError(feed.feed_id, "unreadable page", where=broken[0], action="fetch the period again")


def _check_required_fields(
    con: duckdb.DuckDBPyConnection, table: str, pages: list[LandedPayload], feed: Feed
) -> None:
    """A measurement without its time or its value key is a broken page, not a broken row."""
    missing = con.sql(f"""
        SELECT payload_sha256, source_row, missing_field FROM {table}
        WHERE missing_field IS NOT NULL ORDER BY payload_sha256, source_row LIMIT 1
    """).fetchone()
    if missing:
        sha256, index, field = missing
        page = next(page for page in pages if page.sha256 == sha256)
        raise FeedError(
            feed.feed_id,
            f"a measurement without {field}",
            where=f"{page.path} results[{index}].{field} (request {page.request})",
            action="the API changed its format or the response is damaged; fetch the period again",
        )


def _source_rows_sql(
    pages: list[LandedPayload], sensors: dict[int, tuple[str, str | None, str | None]]
) -> str:
    page_values = ", ".join(
        f"({sql_literal(str(page.path))}, {sql_literal(page.sha256)}, {_sensor_of(page)})" for page in pages
    )
    sensor_values = ", ".join(
        f"({sensor_id}, {sql_literal(location)}, {sql_literal(name)}, {sql_literal(unit)})"
        for sensor_id, (location, name, unit) in sorted(sensors.items())
    )
    pollutants = ", ".join(sql_literal(p) for p in units.POLLUTANTS)
    return f"""
    SELECT
        sensors.location_id AS station_id,
        coalesce(result ->> '$.parameter.name', sensors.parameter_name) AS pollutant,
        {_UTC_SQL} AS measured_at_utc,
        try_cast(left(result ->> '$.period.datetimeFrom.local', 10) AS DATE) AS local_date,
        try_cast(result ->> '$.value' AS DOUBLE) AS source_value,
        coalesce(result ->> '$.parameter.units', sensors.parameter_units) AS source_unit,
        NOT coalesce(try_cast(result ->> '$.flagInfo.hasFlags' AS BOOLEAN), false) AS is_valid,
        pages.payload_sha256,
        result_number - 1 AS source_row,
        nullif(concat_ws('; ',
            CASE WHEN coalesce(result ->> '$.parameter.name', sensors.parameter_name) NOT IN ({pollutants})
                THEN 'parameter ' || coalesce(result ->> '$.parameter.name', sensors.parameter_name)
                    || ' is not pm25, pm10 or no2' END,
            CASE WHEN {_UTC_SQL} IS NULL
                THEN 'unreadable period.datetimeFrom.utc ' || (result ->> '$.period.datetimeFrom.utc') END,
            CASE WHEN try_cast(left(result ->> '$.period.datetimeFrom.local', 10) AS DATE) IS NULL
                THEN 'unreadable period.datetimeFrom.local '
                    || (result ->> '$.period.datetimeFrom.local') END,
            CASE WHEN json_type(result -> '$.value') = 'NULL' THEN 'no value' END,
            CASE WHEN json_type(result -> '$.value') <> 'NULL'
                    AND NOT coalesce(isfinite(try_cast(result ->> '$.value' AS DOUBLE)), false)
                THEN 'unreadable value ' || (result ->> '$.value') END
        ), '') AS row_error,
        CASE WHEN (result ->> '$.period.datetimeFrom.utc') IS NULL THEN 'period.datetimeFrom.utc'
             WHEN (result ->> '$.period.datetimeFrom.local') IS NULL THEN 'period.datetimeFrom.local'
             WHEN (result -> '$.value') IS NULL THEN 'value' END AS missing_field
    FROM (
        SELECT filename, unnest(results) AS result, generate_subscripts(results, 1) AS result_number
        FROM (
            SELECT filename, CAST(content::JSON -> 'results' AS JSON[]) AS results
            FROM read_text({_files_sql(pages)})
        )
    ) AS page_results
    JOIN (VALUES {page_values}) AS pages(filename, payload_sha256, sensor_id) USING (filename)
    JOIN (VALUES {sensor_values}) AS sensors(sensor_id, location_id, parameter_name, parameter_units)
        ON pages.sensor_id = sensors.sensor_id
    """
