"""Finding a city's OpenAQ locations, to write an `openaq_air` feed's stations file.

An `openaq_air` feed names its stations as OpenAQ location ids mapped to registry cities
(`stations_file`: `station_id,city_id`). Which ids those are is found, not guessed: OpenAQ v3's
`GET /locations?coordinates=<lat>,<lon>&radius=<m>` lists the locations around the city's
coordinates (the city registry's `latitude`, `longitude`); only locations reporting PM2.5, PM10 or
NO₂ are kept, each with its name and distance so a person can check them before adding the rows
to the stations file. The API key comes from the Airflow Connection named by `--connection`
(`AIRFLOW_CONN_<ID>` in the environment on the command line), as for every feed.
"""

from __future__ import annotations

import csv
import math
import sys
from typing import TextIO

from citypeers import paths, units
from citypeers.errors import ConfigError, FeedError
from citypeers.feeds import http
from citypeers.registry import Feed

# OpenAQ v3 caps the radius of a coordinates search at 25 km.
MAX_RADIUS_M = 25_000


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius 6,371 km)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((phi2 - phi1) / 2) ** 2
         + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def _coordinates(city_id: str) -> tuple[float, float]:
    """The city registry's latitude and longitude of one city."""
    with (paths.dbt_project_dir() / "seeds" / "cities.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["city_id"] == city_id:
                return float(row["latitude"]), float(row["longitude"])
    raise ConfigError(f"no city '{city_id}' in dbt_project/seeds/cities.csv")


def city_locations(city_id: str, base_url: str, *, radius_m: int = MAX_RADIUS_M,
                   connection: str | None = None) -> list[dict[str, object]]:
    """The OpenAQ locations within `radius_m` of a registry city that measure PM2.5, PM10 or NO₂,
    nearest first: location id, name, distance (km) and the pollutants measured."""
    latitude, longitude = _coordinates(city_id)
    feed = Feed(f"openaq_locations_{city_id}", "openaq_air", base_url, "@yearly",
                options={"connection": connection} if connection else {})
    params = {"coordinates": f"{latitude},{longitude}", "radius": min(radius_m, MAX_RADIUS_M), "limit": 1000}
    with http.session(feed) as session:
        response = session.get(f"{base_url.rstrip('/')}/locations", params=params, timeout=60)
    if response.status_code != 200:
        raise FeedError(feed.feed_id, f"HTTP {response.status_code}: {response.text[:200]}", where=response.url,
                        action="check the base URL and the API key (--connection)")
    found = []
    for location in response.json().get("results") or []:
        measured = sorted({(sensor.get("parameter") or {}).get("name") for sensor in location.get("sensors") or []}
                          & set(units.POLLUTANTS))
        where = location.get("coordinates") or {}
        if not measured or where.get("latitude") is None or where.get("longitude") is None:
            continue
        found.append({
            "station_id": str(location["id"]),
            "city_id": city_id,
            "name": location.get("name") or "",
            "distance_km": round(_distance_km(latitude, longitude, where["latitude"], where["longitude"]), 1),
            "pollutants": ";".join(measured),
        })
    return sorted(found, key=lambda row: (row["distance_km"], row["station_id"]))


def write_csv(rows: list[dict[str, object]], out: TextIO = sys.stdout) -> None:
    """The rows as a stations file (`station_id,city_id` first; the other columns are for review)."""
    writer = csv.DictWriter(out, fieldnames=["station_id", "city_id", "name", "distance_km", "pollutants"])
    writer.writeheader()
    writer.writerows(rows)
