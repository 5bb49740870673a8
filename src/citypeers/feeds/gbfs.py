"""GBFS (General Bikeshare Feed Specification) snapshots → bike-share indicator observations.

A *snapshot* is a system's `station_information.json` and `station_status.json` as it published
them at one moment (optionally with its `gbfs.json` discovery file and system_information).

- Over HTTP (an http(s) `location`: a system's gbfs.json, or the base of `options.urls` /
  `urls_file`): auto-discovery, `ttl`, the snapshot DAG of live systems and the yearly index of
  their snapshots are `citypeers.feeds.gbfs_http`; the parse reads the index.
- Offline drops: the location is a path glob (`{home}`, `{year}`) matching snapshot folders or
  files in them; every match stands for its folder. With `gbfs.json` present its feed list says
  which files to read: its URLs usually still point at the live system
  (`https://.../station_status.json`), so they are matched by file name inside the snapshot folder.

Per snapshot, two figures for the city:
- `shared_bikes_per_1000`, sent as a city TOTAL in `bike` (dbt divides it by the population of
  the year): the bikes docked at the snapshot, available plus disabled. Bikes out on a ride are
  not in station_status (GBFS does not report them), so the figure is a lower bound of the fleet
  and is best taken at a quiet hour.
- `bike_dock_availability_share` in `percent`: of the stations that are installed and renting,
  the share with at least one bike available and at least one free dock.
Several snapshots of one city in one year give the median of the snapshots' figures (the note says
how many; over HTTP, also how many failed: a system that did not answer is reported, never a zero).

Real quirks handled:
- field names of GBFS v1/v2 (`num_bikes_available`, `num_bikes_disabled`) and v3
  (`num_vehicles_available`, `num_vehicles_disabled`); flags as 0/1 (v1) or booleans (v2, v3);
- `last_updated` as POSIX seconds (v1, v2) or an RFC 3339 string with offset (v3); the year is
  taken in UTC, and only snapshots taken inside the data interval count;
- v3 names as localised arrays (`[{"text": ..., "language": ...}]`), v1/v2 names as strings;
- station ids as strings or numbers; `capacity` missing for some stations (optional in GBFS);
- gbfs.json feed lists per language (v1/v2 `data.<lang>.feeds`) or flat (v3 `data.feeds`).

Station invariant: available bikes + free docks + disabled bikes + disabled docks <= capacity.
A station breaking it has counts that cannot all be true, so it is left out of both figures and
named in the row's `note` (the snapshot itself stays usable).

Options (feeds.yml): `city_from: folder` (the snapshot folder's name is the city key, mapped like
any city key) or the feed's `city_id` for a single-city feed; `language` picks the gbfs.json
language block (default: the first one).
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import duckdb

from citypeers.errors import FeedError
from citypeers.feeds import empty_indicator_rows_sql, finish_indicator_rows, gbfs_http, new_table_name, sql_literal
from citypeers.feeds.gbfs_validation import check_snapshot, read_json
from citypeers.feeds.notices import Notices
from citypeers.feeds.payloads import LandedPayload, Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed

DISCOVERY = "gbfs.json"
ROLES = ("station_information", "station_status")
# Files landed for the checks against the GBFS schemas (system_information is required of every system).
LANDED_ROLES = ("system_information", *ROLES)
SNAPSHOT_ACTION = (
    "save each snapshot as a folder holding station_information.json and station_status.json "
    "(and optionally gbfs.json), then rerun this interval"
)


@dataclass(frozen=True)
class Snapshot:
    """One snapshot folder's landed files by role (gbfs, system_information, station_information,
    station_status) and each role's file name (`folder` as the fetch saw it)."""

    folder: str
    files: dict[str, LandedPayload]
    names: dict[str, str]
    publishes_stations: bool = True
    # fetched over HTTP (citypeers.feeds.gbfs_http): the system's city key and the snapshot's name
    city_key: str | None = None
    name: str | None = None

    @property
    def status(self) -> LandedPayload | None:
        return self.files.get("station_status")

    @property
    def information(self) -> LandedPayload | None:
        return self.files.get("station_information")

    @property
    def label(self) -> str:
        """The snapshot's name in notices: its folder's name (over HTTP: city key and time)."""
        return self.name or Path(self.folder).name


def feed_urls(discovery: dict, feed: Feed, where: str) -> dict[str, str]:
    """role → URL as listed, from a gbfs.json document (v1, v2 or v3), for the roles landed."""
    data = discovery.get("data") if isinstance(discovery, dict) else None
    if not isinstance(data, dict):
        raise FeedError(feed.feed_id, "gbfs.json has no `data` object", where=where,
                        action="save the system's gbfs.json unchanged, or leave it out of the snapshot folder")
    feeds = data.get("feeds")
    if feeds is None:  # v1/v2: one feed list per language
        languages = [key for key, block in data.items() if isinstance(block, dict) and "feeds" in block]
        language = feed.options.get("language") or (languages[0] if languages else None)
        feeds = (data.get(language) or {}).get("feeds") if language else None
    if not isinstance(feeds, list):
        raise FeedError(feed.feed_id, "gbfs.json lists no feeds (neither data.feeds nor data.<language>.feeds)",
                        where=where, action="check the file, or set options.language to one of its languages")
    return {entry["name"]: str(entry["url"]) for entry in feeds
            if isinstance(entry, dict) and entry.get("name") in LANDED_ROLES and entry.get("url")}


def _feed_file_names(discovery: dict, feed: Feed, where: str) -> dict[str, str]:
    """role → file name in the snapshot folder: the listed URLs usually still point at the live system."""
    return {role: Path(urlparse(url).path).name for role, url in feed_urls(discovery, feed, where).items()}


def _default_names() -> dict[str, str]:
    return {role: f"{role}.json" for role in LANDED_ROLES}


def _load_discovery(content: bytes, feed: Feed, where: str) -> dict:
    try:
        return json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedError(feed.feed_id, f"gbfs.json is not valid JSON ({exc})", where=where,
                        action="save the discovery file unchanged, or remove it from the snapshot folder") from exc


def _snapshot_folders(feed: Feed, interval: Interval) -> list[Path]:
    patterns = list(dict.fromkeys(feed.resolved_location(year=year) for year in interval.years()))
    matches = sorted({match for pattern in patterns for match in glob.glob(pattern, recursive=True)})
    folders = list(dict.fromkeys(Path(m) if Path(m).is_dir() else Path(m).parent for m in matches))
    if not folders:
        raise FeedError(feed.feed_id, f"no GBFS snapshot matches the location for {interval.label}",
                        where=", ".join(patterns),
                        action="check `location` in feeds.yml (for the demo feeds run `citypeers demo-data`)")
    return folders


def fetch(feed: Feed, interval: Interval) -> list[Payload]:
    """Every snapshot folder matching the location: its gbfs.json (if any), system_information (if
    any) and the two station files. A gbfs.json listing no station files lands alone: the parse
    says the system publishes no stations. An http(s) location is fetched by auto-discovery
    (citypeers.feeds.gbfs_http)."""
    if gbfs_http.is_http(feed):
        return gbfs_http.fetch(feed, interval)
    payloads = []
    for folder in _snapshot_folders(feed, interval):
        discovery_path = folder / DISCOVERY
        names = _default_names()
        if discovery_path.exists():
            content = discovery_path.read_bytes()
            payloads.append(Payload(content=content, suffix=".json", request=str(discovery_path)))
            names = _feed_file_names(_load_discovery(content, feed, str(discovery_path)), feed, str(discovery_path))
        for role in LANDED_ROLES:
            path = folder / names.get(role, f"{role}.json")
            if not path.exists():
                if role != "station_status" or role not in names:
                    continue  # optional for the figures (or no station files at all: said at parse)
                raise FeedError(feed.feed_id, f"snapshot has no {role} file ({path.name})", where=str(folder),
                                action=SNAPSHOT_ACTION)
            payloads.append(Payload(content=path.read_bytes(), suffix=".json", request=str(path)))
    return payloads


def snapshots(payloads: list[LandedPayload], feed: Feed) -> list[Snapshot]:
    """Group landed payloads by snapshot folder (their request path) and give each file its role;
    over HTTP, the year's snapshot index says which files make each snapshot."""
    index = next((payload for payload in payloads if payload.request == gbfs_http.INDEX_REQUEST), None)
    if index is not None:
        return [_indexed_snapshot(record, files, feed)
                for record, files in gbfs_http.read_index(index, payloads, feed).answered]
    by_folder: dict[Path, dict[str, LandedPayload]] = {}
    for payload in payloads:
        request = Path(payload.request)
        by_folder.setdefault(request.parent, {})[request.name] = payload
    found = []
    for folder, files in by_folder.items():
        listed = None
        if DISCOVERY in files:
            where = f"{files[DISCOVERY].request} (landed as {files[DISCOVERY].path})"
            listed = _feed_file_names(_load_discovery(files[DISCOVERY].path.read_bytes(), feed, where), feed, where)
        names = {**_default_names(), **(listed or {}), "gbfs": DISCOVERY}
        roles = {role: files[name] for role, name in names.items() if name in files}
        found.append(Snapshot(folder=str(folder), files=roles, names=names,
                              publishes_stations=listed is None or any(role in listed for role in ROLES)))
    return found


def _indexed_snapshot(record: dict, files: dict[str, LandedPayload], feed: Feed) -> Snapshot:
    """A snapshot fetched over HTTP, from its record in the year's index."""
    where = f"{record['url']} (landed as {files['gbfs'].path})"
    listed = _feed_file_names(_load_discovery(files["gbfs"].path.read_bytes(), feed, where), feed, where)
    city = record["city_key"] or feed.city_id or "system"
    moment = gbfs_http.snapshot_time(record)
    taken = f"{moment:%Y-%m-%dT%H:%M:%SZ}" if moment else ""
    return Snapshot(folder=f"{record['url']}@{record['taken_at'] or 'archive'}", files=files,
                    names={**_default_names(), **listed, "gbfs": DISCOVERY},
                    publishes_stations=any(role in listed for role in ROLES),
                    city_key=record["city_key"], name=f"{city} {taken}".strip())


def _stations_sql(con: duckdb.DuckDBPyConnection, payload: LandedPayload, feed: Feed) -> str:
    """One row per station of a GBFS station file (JSON extracted in DuckDB), after checking the
    file is JSON with a `data.stations` array."""
    path = sql_literal(str(payload.path))
    where = f"{payload.request} (landed as {payload.path})"
    try:
        kind = con.sql(
            f"SELECT json_type(json, '$.data.stations') FROM read_json_objects({path}, format = 'auto')"
        ).fetchall()
    except duckdb.Error as exc:
        raise FeedError(feed.feed_id, f"not valid JSON: {exc}", where=where,
                        action="the file is kept as received; fetch the snapshot again or repair the file, "
                        "then rerun this interval") from exc
    if len(kind) != 1 or kind[0][0] != "ARRAY":
        raise FeedError(feed.feed_id, "not a GBFS station file: no data.stations array", where=where,
                        action=SNAPSHOT_ACTION)
    return f"""
        SELECT json AS doc, unnest(json_extract(json, '$.data.stations[*]')) AS station
        FROM read_json_objects({path}, format = 'auto')
    """


def _flag(field: str, default: str) -> str:
    """A GBFS flag sent as 0/1 (v1) or true/false (v2, v3); `default` when absent."""
    return (f"CASE lower(station->>'{field}') WHEN '1' THEN true WHEN 'true' THEN true "
            f"WHEN '0' THEN false WHEN 'false' THEN false ELSE {default} END")


def _count(v3_field: str, v1_field: str | None = None) -> str:
    names = [v3_field] + ([v1_field] if v1_field else [])
    return "try_cast(coalesce(" + ", ".join(f"station->>'{n}'" for n in names) + ") AS INTEGER)"


def _snapshot_sql(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, feed: Feed) -> str:
    status_sql = _stations_sql(con, snapshot.status, feed)
    if snapshot.information is not None:
        information_sql = _stations_sql(con, snapshot.information, feed)
    else:
        information_sql = "SELECT NULL::JSON AS doc, NULL::JSON AS station LIMIT 0"
    if snapshot.city_key is not None:
        city_key = sql_literal(snapshot.city_key)
    elif feed.options.get("city_from") == "folder":
        city_key = sql_literal(Path(snapshot.folder).name)
    else:
        city_key = "NULL::VARCHAR"
    return f"""
    WITH status AS (
        SELECT *, row_number() OVER () AS source_row FROM ({status_sql})
    ),
    information AS (
        SELECT
            station->>'station_id' AS station_id,
            try_cast(station->>'capacity' AS INTEGER) AS capacity,
            CASE WHEN json_type(station->'name') = 'ARRAY' THEN station->'name'->0->>'text'
                 ELSE station->>'name' END AS station_name
        FROM ({information_sql})
        QUALIFY row_number() OVER (PARTITION BY station->>'station_id') = 1
    )
    SELECT
        {sql_literal(snapshot.folder)} AS snapshot,
        {city_key} AS city_key,
        CASE WHEN json_type(status.doc->'last_updated') IN ('UBIGINT', 'BIGINT', 'DOUBLE')
             THEN timezone('UTC', to_timestamp(try_cast(status.doc->>'last_updated' AS DOUBLE)))
             ELSE timezone('UTC', try_cast(status.doc->>'last_updated' AS TIMESTAMPTZ)) END AS snapshot_at_utc,
        status.doc->>'last_updated' AS last_updated,
        coalesce(status.doc->>'version', '1.0') AS gbfs_version,
        status.station->>'station_id' AS station_id,
        information.station_name,
        information.capacity,
        {_count('num_vehicles_available', 'num_bikes_available')} AS bikes_available,
        coalesce({_count('num_vehicles_disabled', 'num_bikes_disabled')}, 0) AS bikes_disabled,
        {_count('num_docks_available')} AS docks_available,
        coalesce({_count('num_docks_disabled')}, 0) AS docks_disabled,
        {_flag('is_installed', 'true')} AS is_installed,
        {_flag('is_renting', 'true')} AS is_renting,
        {_flag('is_returning', 'true')} AS is_returning,
        {sql_literal(snapshot.status.sha256)} AS payload_sha256,
        {sql_literal(snapshot.status.request)} AS request,
        status.source_row
    FROM status
    LEFT JOIN information ON information.station_id = (status.station->>'station_id')
    """


# The station table's columns (the table exists, empty, when no snapshot answered).
STATION_COLUMNS = (
    "snapshot VARCHAR, city_key VARCHAR, snapshot_at_utc TIMESTAMP, last_updated VARCHAR, gbfs_version VARCHAR, "
    "station_id VARCHAR, station_name VARCHAR, capacity INTEGER, bikes_available INTEGER, bikes_disabled INTEGER, "
    "docks_available INTEGER, docks_disabled INTEGER, is_installed BOOLEAN, is_renting BOOLEAN, "
    "is_returning BOOLEAN, payload_sha256 VARCHAR, request VARCHAR, source_row BIGINT, breaks_capacity BOOLEAN, "
    "left_out_reason VARCHAR"
)


def _station_table(
    con: duckdb.DuckDBPyConnection, checked: list[tuple[Snapshot, dict[int, str]]], feed: Feed
) -> str:
    """A temp table of station rows for every snapshot, with why a station is left out of the
    figures (`left_out_reason`: its check's findings, or counts above capacity); returns its name.

    Snapshots go in one statement each: a single UNION ALL over a thousand snapshots (a network's
    feed for a year) planned every JSON read at once and needed several GB."""
    table = new_table_name("gbfs_stations")
    con.execute(f"CREATE TEMP TABLE {table} ({STATION_COLUMNS})")
    for snapshot, left_out in checked:
        con.execute(f"INSERT INTO {table} BY NAME {_snapshot_rows_sql(con, snapshot, left_out, feed)}")
    return table


def _snapshot_rows_sql(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, left_out: dict[int, str], feed: Feed) -> str:
    """One snapshot's station rows with `breaks_capacity` and `left_out_reason`."""
    reasons = ", ".join(f"({row}, {sql_literal(reason)})" for row, reason in sorted(left_out.items()))
    reasons_sql = f"(VALUES {reasons})" if reasons else "(SELECT NULL::BIGINT, NULL::VARCHAR LIMIT 0)"
    return f"""
        SELECT stations.*,
            coalesce(bikes_available, 0) + coalesce(docks_available, 0) + bikes_disabled + docks_disabled
                > capacity AS breaks_capacity,
            coalesce(reasons.reason, CASE WHEN coalesce(bikes_available, 0) + coalesce(docks_available, 0)
                + bikes_disabled + docks_disabled > capacity THEN 'station_counts_exceed_capacity' END)
                AS left_out_reason
        FROM ({_snapshot_sql(con, snapshot, feed)}) AS stations
        LEFT JOIN {reasons_sql} AS reasons(source_row, reason) USING (source_row)
        """


def station_rows(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed
) -> duckdb.DuckDBPyRelation:
    """One row per station and snapshot, with the counts in v3 terms and `breaks_capacity`
    (available + free + disabled bikes and docks > capacity) — the level the invariant is checked at."""
    checked = [(snapshot, {}) for snapshot in snapshots(payloads, feed) if snapshot.status is not None]
    return con.sql(f"SELECT * FROM {_station_table(con, checked, feed)} ORDER BY snapshot, source_row")


def _check_snapshots(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, notices: Notices
) -> list[tuple[Snapshot, dict[int, str]]]:
    """Every snapshot checked against the GBFS schemas of its version (citypeers.feeds.gbfs_validation);
    fails the interval on an error notice. Returns each snapshot with its stations to leave out."""
    checked = []
    found = snapshots(payloads, feed)
    parsed: dict[str, object] = {}  # sha256 -> JSON: the files most snapshots share are read once
    known_valid: set[tuple[str, str, str]] = set()
    for snapshot in found:
        documents = {}
        for role, payload in snapshot.files.items():
            if payload.sha256 not in parsed:
                document = read_json(payload.path.read_bytes(), f"{snapshot.label}/{snapshot.names[role]}", notices)
                if document is None:
                    documents[role] = None
                    continue
                parsed[payload.sha256] = document
            documents[role] = parsed[payload.sha256]
        if any(document is None for document in documents.values()):
            continue
        if snapshot.status is None:
            if snapshot.publishes_stations:
                notices.add(f"{snapshot.label}/{snapshot.names['station_status']}", "missing_required_file", "error",
                            f"snapshot has no station_status ({snapshot.names['station_status']}): "
                            + SNAPSHOT_ACTION)
            else:
                notices.add(f"{snapshot.label}/gbfs.json", "no_station_files", "error",
                            "this system publishes no stations: gbfs.json lists neither station_information nor "
                            "station_status (a free-floating system?), and both figures count docked stations")
            continue
        check = check_snapshot(snapshot.label, snapshot.names, documents, notices, known_valid=known_valid,
                               digests={role: payload.sha256 for role, payload in snapshot.files.items()})
        if check.version is not None:
            checked.append((snapshot, check.left_out))
    notices.raise_for_errors(where="; ".join(snapshot.folder for snapshot in found))
    return checked


def _city_rows_sql(stations: str, failed: dict[str | None, int]) -> str:
    """Station rows → one row per snapshot and indicator, then the median per city key and year
    (`failed`: per city key, the snapshots that did not answer, named in the note, never counted)."""
    failed_sql = ", ".join(f"({sql_literal(key)}, {count})" for key, count in failed.items())
    failed_table = (f"(VALUES {failed_sql}) AS failed(failed_key, failed_snapshots)" if failed_sql
                    else "(SELECT NULL::VARCHAR AS failed_key, 0 AS failed_snapshots LIMIT 0) AS failed")
    reference = "request || ' @ ' || coalesce(strftime(snapshot_at_utc, '%Y-%m-%dT%H:%M:%SZ'), last_updated)"
    return f"""
    WITH snapshot_figures AS (
        SELECT
            snapshot, city_key, snapshot_at_utc, last_updated, gbfs_version, payload_sha256, request,
            year(snapshot_at_utc) AS year,
            sum(bikes_available + bikes_disabled) FILTER (WHERE left_out_reason IS NULL) AS docked_bikes,
            100.0 * count(*) FILTER (WHERE is_installed AND is_renting AND bikes_available > 0
                                       AND docks_available > 0 AND left_out_reason IS NULL)
                / nullif(count(*) FILTER (WHERE is_installed AND is_renting AND left_out_reason IS NULL), 0)
                AS available_share,
            count(*) AS stations,
            count(*) FILTER (WHERE left_out_reason IS NOT NULL) AS left_out,
            string_agg(DISTINCT regexp_extract(left_out_reason, '[a-z_]+$'), ', ')
                FILTER (WHERE left_out_reason IS NOT NULL) AS left_out_codes,
            count(*) FILTER (WHERE breaks_capacity) AS broken,
            string_agg(station_id, ', ' ORDER BY source_row) FILTER (WHERE breaks_capacity) AS broken_ids,
            count(*) FILTER (WHERE bikes_available IS NULL OR docks_available IS NULL) AS uncounted
        FROM {stations}
        GROUP BY ALL
    ),
    snapshot_rows AS (
        SELECT *, 'shared_bikes_per_1000' AS indicator_code, docked_bikes AS source_value, 'bike' AS source_unit
        FROM snapshot_figures
        UNION ALL
        SELECT *, 'bike_dock_availability_share', available_share, 'percent'
        FROM snapshot_figures
    )
    SELECT
        city_key,
        indicator_code,
        year,
        median(source_value) AS source_value,
        any_value(source_unit) AS source_unit,
        CASE WHEN count(*) <= 3 THEN string_agg({reference}, '; ' ORDER BY snapshot_at_utc)
             ELSE arg_min({reference}, snapshot_at_utc) || '; ... ' || (count(*) - 2) || ' more snapshots ...; '
                  || arg_max({reference}, snapshot_at_utc) END AS source_ref,
        nullif(concat_ws('; ',
            CASE WHEN count(*) > 1 THEN 'median of ' || count(*) || ' snapshots' END,
            CASE WHEN any_value(failed.failed_snapshots) > 0
                 THEN any_value(failed.failed_snapshots) || ' snapshot(s) failed (the system did not answer), '
                      || 'not counted' END,
            'GBFS ' || string_agg(DISTINCT gbfs_version, '/'),
            CASE WHEN indicator_code = 'shared_bikes_per_1000'
                 THEN 'docked bikes (available + disabled) at the snapshot; bikes on a ride not counted' END,
            CASE WHEN sum(broken) > 0 THEN sum(broken) || ' station(s) left out: bikes + docks + disabled > '
                 || 'capacity (' || string_agg(broken_ids, ', ') || ')' END,
            CASE WHEN sum(uncounted) > 0 THEN sum(uncounted) || ' station(s) without bike or dock counts' END,
            CASE WHEN sum(left_out) > 0 THEN 'flagged, rows left out: ' || sum(left_out) || ' of ' || sum(stations)
                 || ' stations (' || string_agg(DISTINCT left_out_codes, ', ') || ')' END
        ), '') AS note,
        nullif(sum(left_out), 0) / sum(stations) AS left_out_share,
        min(payload_sha256) AS payload_sha256,
        min(stations) AS source_row,
        nullif(concat_ws('; ',
            CASE WHEN bool_or(snapshot_at_utc IS NULL)
                 THEN 'last_updated ' || coalesce(string_agg(last_updated, ', '), '(missing)')
                      || ' is neither POSIX seconds nor an RFC 3339 time' END,
            CASE WHEN count(source_value) < count(*) THEN
                CASE indicator_code WHEN 'bike_dock_availability_share'
                     THEN 'no installed, renting station in the snapshot'
                     ELSE 'no station with bike counts in the snapshot' END END
        ), '') AS row_error
    FROM snapshot_rows
    LEFT JOIN {failed_table} ON snapshot_rows.city_key IS NOT DISTINCT FROM failed.failed_key
    GROUP BY city_key, indicator_code, year
    """


def _report_systems(
    payloads: list[LandedPayload], feed: Feed, interval: Interval, notices: Notices
) -> dict[str | None, int]:
    """Over HTTP: a notice for each system whose snapshots failed (`system_not_answering`: the figures
    are the median of the others) or repeated an unchanged station_status (`system_not_updating`:
    counted once), and a flagged one for each system without any answered snapshot in the interval
    (`system_stopped`: no figure for its city, never a zero). Returns failed snapshots per city key,
    for the note."""
    index = next((payload for payload in payloads if payload.request == gbfs_http.INDEX_REQUEST), None)
    if index is None:
        return {}
    indexed = gbfs_http.read_index(index, payloads, feed)

    def in_interval(record: dict) -> bool:
        moment = gbfs_http.snapshot_time(record)
        return moment is None or interval.start <= moment < interval.end

    def when(record: dict) -> str:
        moment = gbfs_http.snapshot_time(record)
        return f"{moment:%Y-%m-%dT%H:%M:%SZ}" if moment else "an unknown time"

    systems = {system["url"]: system for system in indexed.systems}
    for record in [*(record for record, _ in indexed.answered), *indexed.failed]:
        systems.setdefault(record["url"], record)
    failed: dict[str | None, int] = {}
    for url, system in sorted(systems.items()):
        answered = sorted(when(r) for r, _ in indexed.answered if r["url"] == url and in_interval(r))
        errors = sorted((r["taken_at"], r["error"]) for r in indexed.failed if r["url"] == url and in_interval(r))
        repeated = [r for r in indexed.repeated.get(url, []) if in_interval(r)]
        city = system["city_key"] or feed.city_id
        last_error = f"the last at {errors[-1][0]}: {errors[-1][1]}" if errors else ""
        if repeated:
            notices.add(url, gbfs_http.NOT_UPDATING, "notice",
                        f"{len(repeated)} snapshot(s) repeated a station_status already counted (the system published "
                        f"nothing new; station_status last_updated {when(repeated[-1])}): each counted once")
        if not answered:
            outside = [r for r, _ in indexed.answered if r["url"] == url and not in_interval(r)]
            outside += [r for r in indexed.repeated.get(url, []) if not in_interval(r)]
            if errors:
                why = f"{len(errors)} snapshot(s) failed, {last_error}"
            elif outside:
                why = (f"its {len(outside)} snapshot(s) carry a station_status last_updated outside the interval "
                       f"({when(outside[-1])}): the system is not updating")
            else:
                why = f"none was landed (is the snapshot DAG snapshot__gbfs__{feed.feed_id} running?)"
            notices.add(url, gbfs_http.STOPPED, "flagged",
                        f"no snapshot of this system answered in {interval.label}: {why}; no figure for {city}, "
                        "never counted as zero")
        elif errors:
            failed[system["city_key"]] = failed.get(system["city_key"], 0) + len(errors)
            notices.add(url, gbfs_http.NOT_ANSWERING, "notice",
                        f"{len(errors)} of {len(errors) + len(answered)} snapshots failed ({last_error}; last "
                        f"answered at {answered[-1]}); the figures for {city} are the median of the "
                        f"{len(answered)} that answered")
    return failed


def parse(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, interval: Interval,
    notices: Notices | None = None,
) -> duckdb.DuckDBPyRelation:
    """Landed snapshots → parsed indicator observations for the snapshots taken in the interval.

    Each snapshot is first checked against the GBFS schemas of its version: an `error` notice fails
    the interval; stations with `flagged` notices (and stations whose counts exceed their capacity)
    are left out and the figures carry `left_out_share`. `source_row` is the number of stations in
    the (first) snapshot; `source_ref` names each station_status file and its `last_updated`."""
    notices = notices if notices is not None else Notices(feed.feed_id, interval.label)
    table = new_table_name("gbfs_rows")
    if not payloads:
        con.execute(f"CREATE TEMP TABLE {table} AS {empty_indicator_rows_sql()}")
        return finish_indicator_rows(con, table, feed, interval)
    failed = _report_systems(payloads, feed, interval, notices)
    checked = _check_snapshots(con, payloads, feed, notices)
    stations = _station_table(con, checked, feed)
    names = {snapshot.folder: f"{snapshot.label}/{snapshot.names['station_status']}" for snapshot, _ in checked}
    notices.add_rows(
        (names[folder], row, "capacity", "station_counts_exceed_capacity", "flagged",
         f"station {station_id}: bikes + docks + disabled = {total} > capacity {capacity}; the station is left out")
        for folder, row, station_id, total, capacity in con.sql(f"""
            SELECT snapshot, source_row, station_id,
                coalesce(bikes_available, 0) + coalesce(docks_available, 0) + bikes_disabled + docks_disabled,
                capacity
            FROM {stations} WHERE left_out_reason = 'station_counts_exceed_capacity' ORDER BY snapshot, source_row
        """).fetchall()
    )
    in_interval = new_table_name("gbfs_stations_in_interval")
    con.execute(f"""
    CREATE TEMP TABLE {in_interval} AS
    SELECT * FROM {stations}
    WHERE snapshot_at_utc IS NULL
       OR (snapshot_at_utc >= TIMESTAMP '{interval.start:%Y-%m-%d %H:%M:%S}'
           AND snapshot_at_utc < TIMESTAMP '{interval.end:%Y-%m-%d %H:%M:%S}')
    """)
    con.execute(f"CREATE TEMP TABLE {table} AS {_city_rows_sql(in_interval, failed)}")
    return finish_indicator_rows(con, table, feed, interval)
