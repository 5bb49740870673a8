"""GTFS static feeds (a .zip, or a folder of .txt files) → public-transport supply per city and year.

Two city TOTALS per city and year (dbt divides them by the city's population or area):

- `pt_departures_per_1000` in `departure/week`: scheduled departures in the year's
  *representative week*. A departure is a trip that runs on a service date (its first
  stop_time, counted once per trip and date); a trip listed in `frequencies.txt` counts each of
  its headway departures, `ceil((end_time - start_time) / headway_secs)` per row.
- `pt_stops_per_km2` in `transit_stop`: stops and platforms where a vehicle stops
  (`location_type` empty or 0; stations, entrances and nodes are not stops) served by at least
  one trip of the feed.

Service dates are `calendar.txt` weekday flags within `start_date`..`end_date`, plus
`calendar_dates.txt` exception_type 1, minus exception_type 2; a feed without `calendar.txt`
works from `calendar_dates.txt` alone (AtB Trondheim does).

**Representative week**: among the Monday-to-Sunday weeks whose Monday lies in the data interval,
the one with the most scheduled departures (ties: the earliest). A busiest week is a regular
week, not a holiday week or a half week at the edge of the feed's validity; its Sunday may fall
in the next year. The observation's year is the year of that Monday, and `source_ref` names the
week ("GTFS caltrain.zip, week of 2017-10-02"; a download is named by its URL). A year in which the
feed schedules nothing (its service range does not overlap the interval) gives no observation:
logged, not an error.

**Payloads**: a .zip is landed unchanged; a folder is packed into one zip (sorted names, fixed
timestamps and permissions), so the same folder always lands as the same bytes under the same hash.

**Over HTTP**: a `location` that is an http(s) URL is a GTFS zip URL (with `{year}` where the
publisher keeps one zip per year), fetched by `citypeers.feeds.http` (retries, conditional GET, an
HTML page where a zip was expected is a clear error). Several cities come from a URL-to-city
mapping (`options.urls` / `urls_file`, citypeers.feeds.url_cities), as the Mobility Database
catalogue lists one URL per network; the URLs may be relative to `location`, the base URL then.

**Cities**: by default every payload is the feed's `city_id`. With a URL mapping each landed zip is
the city its request URL maps to. With `options: {city_from: file_stem}` the location glob may
match one zip (or folder) per city, and the file name without `.zip` is the city key (a city id or
name of cities.csv, or a key mapped under `cities:`). Several payloads of one city (a bus and a
rail operator) are added up over the same week; the row's `payload_sha256` then lists their
hashes, comma-separated.

**Real quirks handled**: extra non-standard files (ignored); files inside a sub-folder of the zip;
a UTF-8 byte order mark; non-ASCII text (Hebrew, Norwegian); a file that is not valid UTF-8 is
read as Latin-1 and the note says so (AtB's `stops.txt`); header names with stray blanks; short
rows (missing trailing cells); several agencies in one feed; no `calendar.txt`; service times past
24:00:00 (they belong to the service date, as GTFS says).

Whole-payload problems raise FeedError naming the file and what to do: not a zip (or a broken
one), a missing required file (stops.txt, routes.txt, trips.txt, stop_times.txt, and calendar.txt
or calendar_dates.txt), a required column missing from a file.
"""

from __future__ import annotations

import io
import logging
import tempfile
import zipfile
from datetime import date, timedelta
from pathlib import Path, PurePosixPath

import duckdb

from citypeers.errors import FeedError
from citypeers.feeds import (
    empty_indicator_rows_sql,
    finish_indicator_rows,
    http,
    new_table_name,
    sql_literal,
)
from citypeers.feeds.files import matching_paths
from citypeers.feeds.gtfs_validation import WEEKDAYS, GtfsTables
from citypeers.feeds.notices import Notices
from citypeers.feeds.payloads import LandedPayload, Payload
from citypeers.feeds.url_cities import city_of, has_url_mapping, url_cities
from citypeers.intervals import Interval
from citypeers.registry import Feed

log = logging.getLogger(__name__)

CITY_FROM = (None, "file_stem")
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
DEPARTURE_UNIT = "departure/week"
STOP_UNIT = "transit_stop"


# --- fetch ---------------------------------------------------------------------------------------

def zip_bytes(files: dict[str, bytes]) -> bytes:
    """Files (name -> content) as one zip, byte-identical for identical files: sorted names, fixed
    timestamp, permissions and compression."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, files[name], compresslevel=6)
    return buffer.getvalue()


def pack_folder(folder: Path) -> bytes:
    """A folder's files as one deterministic zip (sub-folders and hidden files are left out)."""
    return zip_bytes({path.name: path.read_bytes() for path in folder.iterdir()
                      if path.is_file() and not path.name.startswith(".")})


def _city_from(feed: Feed) -> str | None:
    city_from = feed.options.get("city_from")
    if city_from not in CITY_FROM:
        raise FeedError(feed.feed_id, f"unknown option city_from: {city_from!r}", where="feeds.yml",
                        action="use city_from: file_stem (one zip or folder per city), or leave it out")
    if city_from and has_url_mapping(feed):
        raise FeedError(feed.feed_id, "city_from and a URL-to-city mapping (urls / urls_file) both say which "
                        "city a zip is", where="feeds.yml", action="keep one of them")
    return city_from


def zip_urls(feed: Feed, interval: Interval) -> dict[str, str | None]:
    """URL -> city key (None: the feed's city_id) of every zip to fetch for the interval."""
    if has_url_mapping(feed):
        return url_cities(feed, interval.years())
    return {url: None for url in dict.fromkeys(feed.resolved_location(year=year) for year in interval.years())}


def fetch(feed: Feed, interval: Interval) -> list[Payload]:
    """Over HTTP, the zip at each URL of the interval's years (`zip_urls`), in mapping order; else
    every zip (unchanged) or folder (packed into a zip) matching the location glob, in path order."""
    _city_from(feed)
    if http.is_url(feed.location):
        return [http.get(feed, interval, url, expect="zip", suffix=".zip") for url in zip_urls(feed, interval)]
    if has_url_mapping(feed):
        raise FeedError(feed.feed_id, "options.urls / urls_file need an http(s) location (the base URL)",
                        where="feeds.yml", action="set location to the base URL, or use a path glob without urls")
    return [
        Payload(content=pack_folder(path) if path.is_dir() else path.read_bytes(), suffix=".zip", request=str(path))
        for path in matching_paths(feed, interval, what="GTFS zip or folder")
    ]


# --- parse: load and check the GTFS tables -------------------------------------------------------

def city_key_of(request: str) -> str:
    """The city key `city_from: file_stem` reads: the file or folder name without `.zip`."""
    name = PurePosixPath(request.rstrip("/")).name
    return name[:-4] if name.lower().endswith(".zip") else name


def payload_label(request: str) -> str:
    """How figures and notices name a payload: a file by its name, a download by its URL (many
    publishers call every zip `gtfs.zip`, so only the URL tells two cities' networks apart)."""
    return request if http.is_url(request) else PurePosixPath(request.rstrip("/")).name


def _not_a_zip(path: Path) -> str:
    """Why a payload is not a zip, in words: a text file saved as .zip says what it starts with."""
    head = path.read_bytes()[:200]
    try:
        first_line = head.decode("utf-8").splitlines()[0] if head.strip() else ""
    except UnicodeDecodeError:
        return "not a readable zip file"
    return f"not a readable zip file: a text file starting {first_line[:60]!r}" if first_line \
        else "not a readable zip file: it is empty"


def _load_payloads(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, notices: Notices
) -> tuple[GtfsTables, list[str]]:
    """Every landed zip into one set of GTFS tables; fails the interval on any error notice.
    Returns the tables and each payload's label (payload_label) in payload order."""
    tables = GtfsTables(con)
    labels = []
    with tempfile.TemporaryDirectory(prefix="citypeers_gtfs_") as scratch:
        for number, payload in enumerate(payloads, start=1):
            label = payload_label(payload.request)
            labels.append(label)
            try:
                archive = zipfile.ZipFile(payload.path)
            except (zipfile.BadZipFile, OSError) as exc:
                notices.add(label, "i_o_error", "error",
                            f"the GTFS payload is {_not_a_zip(payload.path)} ({exc}); check that the location points "
                            "at the GTFS .zip (or a folder of .txt files) and download the feed again")
                continue
            try:
                with archive:
                    tables.load(number, label, archive, Path(scratch), notices)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                notices.add(label, "i_o_error", "error",
                            f"a member cannot be extracted from the GTFS zip ({exc}); download the feed again")
    notices.raise_for_errors(where=_where(payloads))
    return tables, labels


def _where(payloads: list[LandedPayload]) -> str:
    return "; ".join(f"{payload.path} (fetched from {payload.request})" for payload in payloads)


# --- parse: departures and stops ---------------------------------------------------------------

def _mondays(interval: Interval) -> tuple[date, date]:
    """First and last Monday in [interval.start, interval.end) (first > last: none)."""
    start, end = interval.start.date(), (interval.end - timedelta(microseconds=1)).date()
    first = start + timedelta(days=(7 - start.weekday()) % 7)
    last = end - timedelta(days=end.weekday())
    return first, last


def _seconds(column: str) -> str:
    """GTFS time H:MM:SS (may pass 24:00:00) -> seconds since the start of the service day."""
    return (
        f"(try_cast(split_part({column}, ':', 1) AS INTEGER) * 3600 "
        f"+ try_cast(split_part({column}, ':', 2) AS INTEGER) * 60 "
        f"+ try_cast(split_part({column}, ':', 3) AS INTEGER))"
    )


def _source_rows_sql(tables: dict[str, str], payloads_table: str, left_out_sql: str, interval: Interval) -> str:
    first, last = _mondays(interval)
    t = tables
    weekday_active = " ".join(
        f"WHEN {number} THEN c.{day} = '1'" for number, day in enumerate(WEEKDAYS, start=1)
    )
    return f"""
    WITH weeks AS (
        SELECT CAST(monday AS DATE) AS week_monday
        FROM generate_series(DATE '{first}', DATE '{last}', INTERVAL 7 DAY) AS weeks(monday)
    ),
    week_dates AS (
        SELECT week_monday, CAST(week_monday + day_offset * INTERVAL 1 DAY AS DATE) AS service_date
        FROM weeks CROSS JOIN range(7) AS offsets(day_offset)
    ),
    calendar AS (
        SELECT *, try_strptime(start_date, '%Y%m%d')::DATE AS first_date,
            try_strptime(end_date, '%Y%m%d')::DATE AS last_date
        FROM {t["calendar.txt"]}
    ),
    exceptions AS (
        SELECT payload, service_id, try_strptime(date, '%Y%m%d')::DATE AS service_date, exception_type
        FROM {t["calendar_dates.txt"]}
    ),
    active AS (
        (
            SELECT c.payload, c.service_id, d.service_date
            FROM calendar AS c JOIN week_dates AS d ON d.service_date BETWEEN c.first_date AND c.last_date
            WHERE CASE isodow(d.service_date) {weekday_active} END
            UNION
            SELECT payload, service_id, service_date FROM exceptions
            WHERE exception_type = '1' AND service_date IN (SELECT service_date FROM week_dates)
        )
        EXCEPT
        SELECT payload, service_id, service_date FROM exceptions WHERE exception_type = '2'
    ),
    headway_departures AS (
        SELECT payload, trip_id,
            sum(greatest(ceil(({_seconds('end_time')} - {_seconds('start_time')})
                / nullif(try_cast(headway_secs AS INTEGER), 0)), 0)) AS departures
        FROM {t["frequencies.txt"]}
        WHERE try_cast(headway_secs AS INTEGER) > 0
        GROUP BY ALL
    ),
    running_trips AS (
        SELECT DISTINCT trips.payload, trips.trip_id, trips.service_id
        FROM {t["trips.txt"]} AS trips
        SEMI JOIN {t["stop_times.txt"]} AS stop_times
            ON stop_times.payload = trips.payload AND stop_times.trip_id = trips.trip_id
    ),
    trip_departures AS (
        SELECT running_trips.payload, running_trips.service_id,
            coalesce(headway_departures.departures, 1) AS departures
        FROM running_trips LEFT JOIN headway_departures USING (payload, trip_id)
    ),
    week_totals AS (
        SELECT p.city_key, d.week_monday,
            sum(trip_departures.departures) AS departures,
            count(DISTINCT d.service_date) AS service_days
        FROM active
        JOIN trip_departures USING (payload, service_id)
        JOIN week_dates AS d USING (service_date)
        JOIN {payloads_table} AS p USING (payload)
        GROUP BY ALL
        HAVING sum(trip_departures.departures) > 0
    ),
    chosen_weeks AS (
        SELECT * FROM week_totals
        QUALIFY row_number() OVER (
            PARTITION BY city_key, year(week_monday) ORDER BY departures DESC, week_monday) = 1
    ),
    served_stops AS (
        SELECT p.city_key, count(DISTINCT (stops.payload, stops.stop_id)) AS stops
        FROM {t["stops.txt"]} AS stops
        JOIN {payloads_table} AS p USING (payload)
        WHERE coalesce(stops.location_type, '0') = '0'
            AND EXISTS (
                SELECT 1 FROM {t["stop_times.txt"]} AS stop_times
                JOIN {t["trips.txt"]} AS trips USING (payload, trip_id)
                WHERE stop_times.payload = stops.payload AND stop_times.stop_id = stops.stop_id
            )
        GROUP BY ALL
    ),
    cities AS (
        SELECT city_key,
            string_agg(file_name, ' + ' ORDER BY payload) AS files,
            string_agg(payload_sha256, ',' ORDER BY payload) AS payload_sha256,
            string_agg(payload_note, '; ' ORDER BY payload) AS payload_notes,
            max(left_out.left_out_share) AS left_out_share,
            string_agg(file_name || ' ' || left_out.left_out_note, '; ' ORDER BY payload) AS left_out_note
        FROM {payloads_table}
        LEFT JOIN ({left_out_sql}) AS left_out USING (payload)
        GROUP BY ALL
    ),
    agencies AS (
        SELECT p.city_key, count(*) AS agencies
        FROM {t["agency.txt"]} JOIN {payloads_table} AS p USING (payload) GROUP BY ALL
    ),
    routes AS (
        SELECT p.city_key, count(*) AS routes
        FROM {t["routes.txt"]} JOIN {payloads_table} AS p USING (payload) GROUP BY ALL
    )
    SELECT
        w.city_key,
        indicator.indicator_code,
        year(w.week_monday) AS year,
        CASE indicator.indicator_code WHEN 'pt_departures_per_1000' THEN w.departures
             ELSE coalesce(served_stops.stops, 0) END::DOUBLE AS source_value,
        CASE indicator.indicator_code WHEN 'pt_departures_per_1000' THEN '{DEPARTURE_UNIT}'
             ELSE '{STOP_UNIT}' END AS source_unit,
        'GTFS ' || cities.files || ', week of ' || strftime(w.week_monday, '%Y-%m-%d') AS source_ref,
        concat_ws('; ',
            CASE indicator.indicator_code
                WHEN 'pt_departures_per_1000' THEN
                    'scheduled trip departures in the busiest Monday-Sunday week of the year ('
                    || w.service_days || ' of 7 days with service); '
                    || coalesce(agencies.agencies, 0) || ' agencies, ' || coalesce(routes.routes, 0) || ' routes'
                ELSE 'stops and platforms (location_type 0 or empty) served by at least one trip' END,
            cities.payload_notes,
            CASE WHEN cities.left_out_share > 0 THEN 'flagged, rows left out: ' || cities.left_out_note END
        ) AS note,
        cities.payload_sha256,
        indicator.source_row,
        NULL::VARCHAR AS row_error,
        cities.left_out_share
    FROM chosen_weeks AS w
    CROSS JOIN (VALUES ('pt_departures_per_1000', 1), ('pt_stops_per_km2', 2))
        AS indicator(indicator_code, source_row)
    JOIN cities ON cities.city_key IS NOT DISTINCT FROM w.city_key
    LEFT JOIN agencies ON agencies.city_key IS NOT DISTINCT FROM w.city_key
    LEFT JOIN routes ON routes.city_key IS NOT DISTINCT FROM w.city_key
    LEFT JOIN served_stops ON served_stops.city_key IS NOT DISTINCT FROM w.city_key
    """


def _service_ranges(con: duckdb.DuckDBPyConnection, tables: dict[str, str], payloads_table: str) -> dict:
    """city_key -> (first, last) date any service of its payloads names (for the log)."""
    rows = con.sql(f"""
        SELECT p.city_key, min(day), max(day) FROM (
            SELECT payload, try_strptime(start_date, '%Y%m%d')::DATE AS day FROM {tables["calendar.txt"]}
            UNION ALL SELECT payload, try_strptime(end_date, '%Y%m%d')::DATE FROM {tables["calendar.txt"]}
            UNION ALL SELECT payload, try_strptime(date, '%Y%m%d')::DATE FROM {tables["calendar_dates.txt"]}
                WHERE exception_type = '1'
        ) AS days JOIN {payloads_table} AS p USING (payload)
        GROUP BY ALL
    """).fetchall()
    return {city_key: (first, last) for city_key, first, last in rows}


def parse(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, interval: Interval,
    notices: Notices | None = None,
) -> duckdb.DuckDBPyRelation:
    """Landed GTFS zips → weekly departures and served stops per city, for the interval's years.

    Each zip is checked against the GTFS reference first (citypeers.feeds.gtfs_validation): an
    `error` notice fails the interval naming file, row, field and code; rows of `flagged` notices
    are left out and the figures carry `left_out_share`."""
    notices = notices if notices is not None else Notices(feed.feed_id, interval.label)
    city_from = _city_from(feed)
    rows_table = new_table_name("gtfs_rows")
    if not payloads:
        con.execute(f"CREATE TEMP TABLE {rows_table} AS {empty_indicator_rows_sql()}")
        return finish_indicator_rows(con, rows_table, feed, interval)
    gtfs_tables, labels = _load_payloads(con, payloads, feed, notices)
    gtfs_tables.check_rows(notices)
    notices.raise_for_errors(where=_where(payloads))
    gtfs_tables.leave_out_flagged_rows()
    tables = gtfs_tables.tables
    payload_rows = []
    url_keys = url_cities(feed, interval.years()) if has_url_mapping(feed) else None
    for number, (payload, file_name) in enumerate(zip(payloads, labels, strict=True), start=1):
        if url_keys is not None:
            city_key = city_of(feed, payload.request, url_keys)
        else:
            city_key = city_key_of(payload.request) if city_from == "file_stem" else None
        latin1 = sorted(PurePosixPath(n.file).name for n in notices.found
                        if n.code == "invalid_utf8" and n.file.startswith(f"{file_name}/"))
        read_as = ", ".join(f"{name} is not UTF-8, read as Latin-1" for name in latin1)
        note = f"{file_name}: {read_as}" if latin1 else None
        payload_rows.append(
            f"({number}, {sql_literal(city_key)}, {sql_literal(file_name)}, {sql_literal(payload.sha256)}, "
            f"{sql_literal(note)})"
        )
    payloads_table = f"{gtfs_tables.prefix}_payloads"
    con.execute(
        f"CREATE TEMP TABLE {payloads_table} (payload INTEGER, city_key VARCHAR, file_name VARCHAR, "
        "payload_sha256 VARCHAR, payload_note VARCHAR)"
    )
    con.execute(f"INSERT INTO {payloads_table} VALUES {', '.join(payload_rows)}")
    con.execute(f"CREATE TEMP TABLE {rows_table} AS "
                f"{_source_rows_sql(tables, payloads_table, gtfs_tables.left_out_sql(), interval)}")
    observed = {key for (key,) in con.sql(f"SELECT DISTINCT city_key FROM {rows_table}").fetchall()}
    for city_key, (first, last) in sorted(_service_ranges(con, tables, payloads_table).items(), key=str):
        if city_key not in observed:
            log.info("feed %s%s: no scheduled service in %s (the feed's service runs %s to %s); "
                     "no observation for this interval", feed.feed_id, f" city {city_key}" if city_key else "",
                     interval.label, first, last)
    gtfs_tables.drop()
    con.execute(f"DROP TABLE {payloads_table}")
    return finish_indicator_rows(con, rows_table, feed, interval)
