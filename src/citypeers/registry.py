"""The feed registry (feeds.yml) and the city registry (dbt seed cities.csv).

Adding a city is a row in `dbt_project/seeds/cities.csv`; adding its feed is an entry in
`feeds.yml`. Neither needs a code change: every DAG, parser and model reads them.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from citypeers import paths
from citypeers.errors import ConfigError
from citypeers.intervals import next_run_at

log = logging.getLogger(__name__)

# Each source's parsed table: "air" (hourly readings, feeds.PARSED_AIR_COLUMNS), "indicator"
# (annual city figures, feeds.PARSED_INDICATOR_COLUMNS) or "practice" (a registry of what cities
# did, feeds.PARSED_PRACTICE_COLUMNS). One name per source across feed module, DAG, dbt staging
# folder, Asset and expectation suite.
SOURCE_KINDS = {
    "eea_air": "air",
    "openaq_air": "air",
    "indicator_template": "indicator",
    "gtfs": "indicator",
    "gbfs": "indicator",
    "sdmx_csv": "indicator",
    "wide_table": "indicator",
    "practices": "practice",
}
SOURCES = tuple(SOURCE_KINDS)
_FEED_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Feed:
    """One configured feed: where it comes from, in which format, for which city or stations."""

    feed_id: str
    source: str
    location: str
    schedule: str
    city_id: str | None = None
    stations: dict[str, str] = field(default_factory=dict)
    # EEA Parquet files name a sampling point, not a station: Samplingpoint -> station_id
    sampling_points: dict[str, str] = field(default_factory=dict)
    city_keys: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    # `demo: true`: synthetic values for real city names; every dashboard says so while the
    # warehouse holds any (dim_feed.is_demo).
    is_demo: bool = False

    @property
    def kind(self) -> str:
        """The source's parsed table: "air", "indicator" or "practice"."""
        return SOURCE_KINDS[self.source]

    def city_for_station(self, station_id: str) -> str | None:
        """The city a station belongs to: the station mapping first, else the feed's city."""
        return self.stations.get(str(station_id), self.city_id)

    def resolved_location(self, **values: Any) -> str:
        """The location with `{home}` and interval placeholders (`{year}`) filled in."""
        return self.location.format(home=paths.home(), **values)


def city_ids() -> set[str]:
    """City ids known to the city registry (the dbt seed)."""
    seed = paths.dbt_project_dir() / "seeds" / "cities.csv"
    with seed.open(newline="", encoding="utf-8") as handle:
        return {row["city_id"] for row in csv.DictReader(handle)}


def city_names() -> dict[str, str]:
    """city_id -> city name, from the city registry (the dbt seed)."""
    return {city.city_id: city.city_name for city in cities()}


@dataclass(frozen=True)
class City:
    """A city of the registry, as feeds name it: id, name and country."""

    city_id: str
    city_name: str
    country_name: str
    country_iso3: str


def cities() -> list[City]:
    """Every city of the registry (the dbt seed), in its order."""
    seed = paths.dbt_project_dir() / "seeds" / "cities.csv"
    with seed.open(newline="", encoding="utf-8") as handle:
        return [
            City(row["city_id"], row["city_name"], row.get("country_name") or "", row.get("country_iso3") or "")
            for row in csv.DictReader(handle)
        ]


def _mapping(raw: dict[str, Any], feed_id: str, registry: Path, key: str) -> dict[str, str]:
    """A feed's mapping to city ids: `stations`/`stations_file` (station_id,city_id) or
    `cities`/`cities_file` (city_key,city_id), inline and/or from a CSV file."""
    plural = "stations" if key == "station" else "cities"
    mapping = {str(k): str(v) for k, v in (raw.get(plural) or {}).items()}
    key_column = "station_id" if key == "station" else "city_key"
    path = _mapping_file(raw, feed_id, registry, plural, key_column)
    if path:
        with path.open(newline="", encoding="utf-8") as handle:
            mapping.update({row[key_column]: row["city_id"] for row in csv.DictReader(handle)})
    return mapping


def _mapping_file(raw: dict[str, Any], feed_id: str, registry: Path, plural: str, key_column: str) -> Path | None:
    """The feed's `<plural>_file`, resolved against the registry's folder; it must exist."""
    mapping_file = raw.get(f"{plural}_file")
    if not mapping_file:
        return None
    path = Path(str(mapping_file).format(home=paths.home()))
    if not path.is_absolute():
        path = registry.parent / path
    if not path.exists():
        raise ConfigError(
            f"feed '{feed_id}': {plural}_file {path} does not exist — "
            f"create it (columns {key_column},city_id) or run `citypeers demo-data` for the demo feeds"
        )
    return path


def _sampling_points(raw: dict[str, Any], feed_id: str, registry: Path) -> dict[str, str]:
    """Samplingpoint -> station_id: inline `sampling_points`, and the optional `sampling_point`
    column of `stations_file` (one row per sampling point, as the EEA station metadata lists them)."""
    mapping = {str(k): str(v) for k, v in (raw.get("sampling_points") or {}).items()}
    path = _mapping_file(raw, feed_id, registry, "stations", "station_id")
    if path:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = csv.DictReader(handle)
            mapping.update({row["sampling_point"]: row["station_id"] for row in rows if row.get("sampling_point")})
    return mapping


def _feed(raw: dict[str, Any], registry: Path, known_cities: set[str]) -> Feed:
    feed_id = str(raw.get("feed_id", ""))
    if not _FEED_ID.match(feed_id):
        raise ConfigError(f"{registry}: feed_id {feed_id!r} must be lower_snake_case")
    for required in ("source", "location", "schedule"):
        if not raw.get(required):
            raise ConfigError(f"{registry}: feed '{feed_id}' has no '{required}'")
    if raw["source"] not in SOURCES:
        raise ConfigError(
            f"{registry}: feed '{feed_id}' has source {raw['source']!r}; known sources: {', '.join(SOURCES)}"
        )
    stations = _mapping(raw, feed_id, registry, "station")
    city_keys = _mapping(raw, feed_id, registry, "city")
    city_id = raw.get("city_id")
    if SOURCE_KINDS[raw["source"]] == "air" and not city_id and not stations and not raw.get("stations_file"):
        raise ConfigError(f"{registry}: feed '{feed_id}' needs a city_id or a station-to-city mapping")
    unknown = sorted({c for c in [city_id, *stations.values(), *city_keys.values()] if c and c not in known_cities})
    if unknown:
        raise ConfigError(
            f"{registry}: feed '{feed_id}' names unknown cities {unknown}; "
            "add them to dbt_project/seeds/cities.csv first"
        )
    is_demo = _is_demo(raw, registry)
    return Feed(
        feed_id=feed_id,
        source=raw["source"],
        location=str(raw["location"]),
        schedule=str(raw["schedule"]),
        city_id=city_id,
        stations=stations,
        sampling_points=_sampling_points(raw, feed_id, registry),
        city_keys=city_keys,
        options=dict(raw.get("options") or {}),
        is_demo=is_demo,
    )


def _is_demo(raw: dict[str, Any], registry: Path) -> bool:
    """The feed's `demo` flag: a YAML boolean, so that a typo never hides demo data."""
    demo = raw.get("demo", False)
    if not isinstance(demo, bool):
        raise ConfigError(f"{registry}: feed '{raw.get('feed_id')}' has demo: {demo!r}; write demo: true or false")
    return demo


def _document(registry: Path) -> dict[str, Any]:
    try:
        return yaml.safe_load(registry.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read feed registry {registry}: {exc}") from exc


def load_feeds(registry: Path | None = None) -> list[Feed]:
    """All feeds in the registry, checked against the city registry."""
    registry = registry or paths.feeds_file()
    known = city_ids()
    feeds = [_feed(raw, registry, known) for raw in _document(registry).get("feeds") or []]
    ids = [f.feed_id for f in feeds]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ConfigError(f"{registry}: feed ids used twice: {duplicated}")
    return feeds


DEFAULT_START_DATE = "2023-01-01"


def feed_schedules(source: str, registry: Path | None = None) -> dict[str, tuple[str, str]]:
    """feed_id -> (schedule, start date) for one source, read without touching station files
    or cities: cheap enough for DAG parse time."""
    document = _document(registry or paths.feeds_file())
    return {
        str(raw["feed_id"]): (str(raw["schedule"]), str(raw.get("start_date", DEFAULT_START_DATE)))
        for raw in document.get("feeds") or []
        if raw.get("source") == source
    }


DEFAULT_SNAPSHOT_SCHEDULE = "@hourly"


def snapshot_schedule(location: str, options: dict[str, Any]) -> str | None:
    """How often a live feed (an http(s) location) is snapshotted: options.snapshot_schedule, default
    hourly; None for a file location or `snapshot_schedule: none` (an archive the yearly ingest
    fetches itself). Live data cannot be backfilled, so it is kept as it comes (citypeers.feeds.gbfs_http)."""
    schedule = options.get("snapshot_schedule", DEFAULT_SNAPSHOT_SCHEDULE)
    if not str(location).startswith(("http://", "https://")) or schedule in (None, False, "none", ""):
        return None
    return str(schedule)


def snapshot_schedules(source: str, registry: Path | None = None) -> dict[str, tuple[str, str]]:
    """feed_id -> (snapshot schedule, start date) for the source's live feeds, cheap enough for DAG
    parse time (like `feed_schedules`)."""
    document = _document(registry or paths.feeds_file())
    schedules = {}
    for raw in document.get("feeds") or []:
        schedule = snapshot_schedule(str(raw.get("location", "")), raw.get("options") or {})
        if raw.get("source") == source and schedule:
            schedules[str(raw["feed_id"])] = (schedule, str(raw.get("start_date", DEFAULT_START_DATE)))
    return schedules


def get_feed(feed_id: str, registry: Path | None = None) -> Feed:
    """One feed by id, with a clear error naming the known ones."""
    feeds = {f.feed_id: f for f in load_feeds(registry)}
    if feed_id not in feeds:
        raise ConfigError(f"no feed '{feed_id}' in {registry or paths.feeds_file()}; known: {sorted(feeds)}")
    return feeds[feed_id]


def feed_table(now: datetime, registry: Path | None = None) -> list[dict[str, Any]]:
    """One row per feed for the warehouse (dbt source `registry.feeds`): what feeds.yml says, and
    when the feed's next scheduled run is as of `now`. Read like feed_schedules, without station
    files or cities, so a build never depends on a feed's mapping files being present."""
    registry = registry or paths.feeds_file()
    rows = []
    for raw in _document(registry).get("feeds") or []:
        feed_id, schedule = str(raw.get("feed_id", "")), str(raw.get("schedule", ""))
        start_date = str(raw.get("start_date", DEFAULT_START_DATE))
        try:
            next_run = next_run_at(schedule, start_date, now)
        except ValueError as exc:
            # One feed's broken schedule must not stop every feed's build: its DAG fails to load in
            # Airflow, and here it has no next run (NULL on the dashboard), with this warning.
            log.warning("%s: feed '%s' has schedule %r (%s): no next run", registry, feed_id, schedule, exc)
            next_run = None
        rows.append({
            "feed_id": feed_id,
            "source": str(raw.get("source", "")),
            "location": str(raw.get("location", "")),
            "schedule": schedule,
            "start_date": start_date,
            "is_demo": _is_demo(raw, registry),
            "next_run_at": next_run,
            "registry_read_at": now,
        })
    return rows
