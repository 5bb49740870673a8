"""Demo GBFS snapshots: one per city and year, in the three GBFS versions the `gbfs` source reads.

`root/gbfs/<year>/<city_id>/{gbfs.json,system_information.json,station_information.json,
station_status.json}`, with `last_updated` on a summer morning of that year, and `root/gbfs/systems.csv`
(`url,city_key`): each city's `gbfs.json` as `{year}/<city_id>/gbfs.json`, relative to the demo feed's
`location` (the demo feed server's `/gbfs/`, `citypeers.demo.serve_gbfs`), so the demo fetches every
year's snapshot over HTTP with auto-discovery. Most cities publish GBFS 3.0 (RFC 3339 times
with the city's UTC offset, localised names, `num_vehicles_*`); the cities in `GBFS_V2` publish
2.3 and those in `GBFS_V1` 1.0 (POSIX times, `num_bikes_*`, 0/1 flags, no `version`), so every
version is exercised in the full demo and in the e2e slice (barcelona v2, seoul v1).

The figures are the project's own demo assumptions, not measurements: docked bikes per 1000
residents by income group (high 3.0, upper-middle 1.2, lower-middle 0.35) times a city factor
(0.6-1.6) growing 4% a year; the share of renting stations with a bike and a free dock by income
group (90%, 84%, 76%) plus a city offset, +0.8 points a year. Station by station the counts are
drawn from `random.Random` seeded with the seed, city and year, so the same seed gives the same
bytes. The first city's middle-year snapshot has one station whose bikes + docks exceed its
capacity, which the parser leaves out and names in the row's note.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

GBFS_V1 = frozenset({"seoul", "lyon", "bangkok"})
GBFS_V2 = frozenset({"barcelona", "paris", "taipei", "delhi"})
BIKES_PER_1000 = {"high": 3.0, "upper_middle": 1.2, "lower_middle": 0.35}
AVAILABILITY = {"high": 90.0, "upper_middle": 84.0, "lower_middle": 76.0}
BASE_URL = "https://gbfs.citypeers.invalid"
SYSTEMS_FILE = "systems.csv"


def version_of(city_id: str) -> str:
    return "1.0" if city_id in GBFS_V1 else "2.3" if city_id in GBFS_V2 else "3.0"


def utc_offset_hours(city: dict[str, str]) -> int:
    """The demo's UTC offset of a city: its longitude / 15, rounded (no daylight saving)."""
    return max(-12, min(14, round(float(city["longitude"]) / 15)))


def _unit(*keys: object) -> float:
    """A uniform number in [0, 1) from the keys (stable across runs and Python versions)."""
    digest = hashlib.sha256("|".join(map(str, keys)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _compact(document: dict) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


def _stations(city: dict[str, str], year: int, first_year: int, seed: int, *, plant_broken: bool) -> list[dict]:
    """Each station's capacity and counts (v3 terms) for the snapshot."""
    rng = random.Random(f"{seed}|gbfs|{city['city_id']}|{year}")
    income = city["income_group"]
    years_on = year - first_year
    bikes_target = (int(city["population"]) / 1000 * BIKES_PER_1000.get(income, 1.0)
                    * (0.6 + _unit(seed, city["city_id"], "bikes")) * 1.04 ** years_on)
    availability = min(99.0, AVAILABILITY.get(income, 80.0) + 8 * (_unit(seed, city["city_id"], "avail") - 0.5)
                       + 0.8 * years_on) / 100
    stations = []
    for number in range(1, max(5, round(bikes_target / 12)) + 1):
        capacity = rng.randint(14, 36)
        bikes_disabled = rng.choice((0, 0, 0, 0, 0, 0, 1, 2))
        docks_disabled = 1 if rng.random() < 0.03 else 0
        usable = capacity - bikes_disabled - docks_disabled
        draw = rng.random()
        if draw < availability:
            bikes = rng.randint(1, usable - 1)
        elif draw < (1 + availability) / 2:
            bikes = 0
        else:
            bikes = usable
        stations.append({
            "station_id": f"{city['city_id'][:3].upper()}{number:05d}",
            "name": f"{city['city_name']} {number}",
            "lat": round(float(city["latitude"]) + rng.uniform(-0.08, 0.08), 5),
            "lon": round(float(city["longitude"]) + rng.uniform(-0.08, 0.08), 5),
            "capacity": capacity,
            "bikes": bikes,
            "bikes_disabled": bikes_disabled,
            "docks": usable - bikes,
            "docks_disabled": docks_disabled,
            "renting": rng.random() >= 0.02,
        })
    if plant_broken:
        stations[0]["docks"] += 3  # bikes + docks + disabled = capacity + 3
    return stations


def _documents(city: dict[str, str], stations: list[dict], taken: datetime, version: str) -> dict[str, dict]:
    city_id = city["city_id"]
    v3 = version.startswith("3")
    hours = utc_offset_hours(city)
    if v3:
        stamp: int | str = taken.astimezone(timezone(timedelta(hours=hours))).isoformat(timespec="seconds")
    else:
        stamp = int(taken.timestamp())

    def envelope(data: dict) -> dict:
        head: dict = {"last_updated": stamp, "ttl": 60}
        if version != "1.0":
            head["version"] = version
        return {**head, "data": data}

    def flag(value: bool) -> bool | int:
        return value if version != "1.0" else int(value)

    prefix = f"{BASE_URL}/{city_id}" + ("" if v3 else "/en")
    feeds = [{"name": name, "url": f"{prefix}/{name}.json"}
             for name in ("system_information", "station_information", "station_status")]
    information = [
        {"station_id": s["station_id"],
         "name": [{"text": s["name"], "language": "en"}] if v3 else s["name"],
         "lat": s["lat"], "lon": s["lon"], "capacity": s["capacity"]}
        for s in stations
    ]
    vehicles = "vehicles" if v3 else "bikes"
    status = [
        {"station_id": s["station_id"],
         f"num_{vehicles}_available": s["bikes"], f"num_{vehicles}_disabled": s["bikes_disabled"],
         "num_docks_available": s["docks"], "num_docks_disabled": s["docks_disabled"],
         "is_installed": flag(True), "is_renting": flag(s["renting"]), "is_returning": flag(True),
         "last_reported": stamp}
        for s in stations
    ]
    system = {"system_id": f"citypeers_demo_{city_id}", "timezone": f"Etc/GMT{-hours:+d}" if hours else "Etc/UTC"}
    if v3:
        system.update(languages=["en"], name=[{"text": f"{city['city_name']} bikes (demo)", "language": "en"}],
                      opening_hours="24/7", feed_contact_email="demo@citypeers.invalid")
    else:
        system.update(language="en", name=f"{city['city_name']} bikes (demo)")
    return {
        "gbfs.json": envelope({"feeds": feeds} if v3 else {"en": {"feeds": feeds}}),
        "system_information.json": envelope(system),
        "station_information.json": envelope({"stations": information}),
        "station_status.json": envelope({"stations": status}),
    }


def write(root: Path, cities: list[dict[str, str]], years: tuple[int, ...], seed: int) -> dict[str, int]:
    """One snapshot per city and year below `root/gbfs/`, and the systems file; returns counts for
    the summary."""
    target = root / "gbfs"
    shutil.rmtree(target, ignore_errors=True)
    years = tuple(sorted(years))
    middle = years[len(years) // 2]
    snapshots = stations_written = 0
    for year in years:
        for index, city in enumerate(cities):
            day = int(_unit(seed, city["city_id"], year, "day") * 90)
            taken = datetime(year, 6, 1, 6, 0, tzinfo=UTC) + timedelta(days=day)
            stations = _stations(city, year, years[0], seed, plant_broken=index == 0 and year == middle)
            folder = target / str(year) / city["city_id"]
            folder.mkdir(parents=True, exist_ok=True)
            for name, document in _documents(city, stations, taken, version_of(city["city_id"])).items():
                (folder / name).write_text(_compact(document), encoding="utf-8")
            snapshots += 1
            stations_written += len(stations)
    target.mkdir(parents=True, exist_ok=True)
    with (target / SYSTEMS_FILE).open("w", encoding="utf-8", newline="") as handle:
        handle.write("url,city_key\n")
        handle.writelines(f"{{year}}/{city['city_id']}/gbfs.json,{city['city_id']}\n" for city in cities)
    return {"gbfs_snapshots": snapshots, "gbfs_stations": stations_written}
