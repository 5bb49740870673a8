"""Demo GTFS feeds: one zip per city and year, `root/gtfs/<year>/<city_id>.zip`, served by the demo
feed server (citypeers.demo.serve_gtfs) and fetched by the `demo_gtfs` feed through the URL-to-city
mapping `root/gtfs/urls.csv`.

Each zip is a small but complete GTFS static feed: two agencies (a metro and a bus operator,
named with the city's own spelling, so non-ASCII text such as "València" or "Hà Nội" is
exercised), a parent station that is not a stop, routes of 25 stops each, and per route one
weekday and one weekend trip whose departures come from `frequencies.txt` headways (service runs
past 24:00:00 on weekdays). `calendar.txt` runs the weekday and weekend services through the
year; `calendar_dates.txt` runs the weekend service on New Year's Day instead of the weekday one.
The cities in `CALENDAR_DATES_ONLY` publish no `calendar.txt` and list every service date in
`calendar_dates.txt` instead, as some real feeds do. Every zip carries an extra non-standard file
that the parser must ignore.

The figures are the project's own demo assumptions, not measurements: stops per km² and weekly
departures per 1000 residents by income group (high 11 and 70, upper-middle 7 and 45,
lower-middle 4 and 25) times a city factor (0.6-1.4), both growing a little every year
(stops +1 %, departures +2.5 %). The same seed gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
from datetime import date, timedelta
from pathlib import Path

from citypeers.demo.indicator_template import city_rng
from citypeers.feeds.gtfs import zip_bytes

URLS_FILE = "urls.csv"
CALENDAR_DATES_ONLY = frozenset({"tokyo", "lyon", "manila"})
STOPS_PER_KM2 = {"high": 11.0, "upper_middle": 7.0, "lower_middle": 4.0}
DEPARTURES_PER_1000 = {"high": 70.0, "upper_middle": 45.0, "lower_middle": 25.0}
STOPS_PER_ROUTE = 25
# service -> (first departure, end of the headway window, share of a weekday's departures)
SERVICE_HOURS = {"WK": ("05:30:00", "24:30:00", 1.0), "WE": ("07:00:00", "24:00:00", 0.6)}


def _seconds(clock: str) -> int:
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def _csv(header: tuple[str, ...], rows: list[tuple]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def supply(city: dict[str, str], year: int, first_year: int, seed: int) -> tuple[int, float]:
    """(stops, target weekly departures) of the city's network in the year."""
    rng = city_rng(seed, city["city_id"], "gtfs")
    stop_factor, departure_factor = 0.6 + 0.8 * rng.random(), 0.6 + 0.8 * rng.random()
    years_on = year - first_year
    income = city["income_group"]
    stops = float(city["area_km2"]) * STOPS_PER_KM2.get(income, 6.0) * stop_factor * 1.01 ** years_on
    departures = (int(city["population"]) / 1000 * DEPARTURES_PER_1000.get(income, 40.0)
                  * departure_factor * 1.025 ** years_on)
    return max(STOPS_PER_ROUTE, round(stops)), departures


def _headways(weekly_departures_per_route: float) -> dict[str, int]:
    """Headway (s) per service so that 5 weekdays and 2 weekend days give about the weekly figure."""
    per_weekday = weekly_departures_per_route / (5 + 2 * SERVICE_HOURS["WE"][2])
    headways = {}
    for service, (start, end, share) in SERVICE_HOURS.items():
        window = _seconds(end) - _seconds(start)
        headways[service] = max(60, round(window / max(per_weekday * share, 1)))
    return headways


def _service_dates(year: int) -> list[tuple[str, str, int]]:
    """Every date of the year with its service, for a feed without calendar.txt (New Year: WE)."""
    day, rows = date(year, 1, 1), []
    while day.year == year:
        service = "WE" if day.weekday() >= 5 or (day.month, day.day) == (1, 1) else "WK"
        rows.append((service, day.strftime("%Y%m%d"), 1))
        day += timedelta(days=1)
    return rows


def feed_files(city: dict[str, str], year: int, first_year: int, seed: int) -> dict[str, bytes]:
    """The GTFS files of one city's feed for one year."""
    city_id, name = city["city_id"], city["city_name"]
    stops, departures = supply(city, year, first_year, seed)
    routes = math.ceil(stops / STOPS_PER_ROUTE)
    headways = _headways(departures / routes)
    lat, lon = float(city["latitude"]), float(city["longitude"])
    files = {
        "agency.txt": _csv(("agency_id", "agency_name", "agency_url", "agency_timezone"), [
            ("METRO", f"{name} Metro", "https://transit.citypeers.invalid", "UTC"),
            ("BUS", f"{name} Bus", "https://transit.citypeers.invalid", "UTC"),
        ]),
        "stops.txt": _csv(("stop_id", "stop_name", "stop_lat", "stop_lon", "location_type", "parent_station"), [
            ("STATION", f"{name} Central", f"{lat:.5f}", f"{lon:.5f}", 1, ""),
            *((f"S{number}", f"{name} {number}", f"{lat + (number % 97) / 1000:.5f}",
               f"{lon + (number // 97) / 1000:.5f}", 0, "STATION" if number == 1 else "")
              for number in range(1, stops + 1)),
        ]),
        "routes.txt": _csv(("route_id", "agency_id", "route_short_name", "route_type"), [
            (f"R{number}", "METRO" if number <= max(1, routes // 10) else "BUS", str(number),
             1 if number <= max(1, routes // 10) else 3)
            for number in range(1, routes + 1)
        ]),
        "trips.txt": _csv(("route_id", "service_id", "trip_id"), [
            (f"R{number}", service, f"R{number}-{service}")
            for number in range(1, routes + 1) for service in SERVICE_HOURS
        ]),
        "stop_times.txt": _csv(("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"), [
            (f"R{number}-{service}", clock, clock, f"S{stop}", sequence)
            for number in range(1, routes + 1) for service, (start, _, _) in SERVICE_HOURS.items()
            for sequence, stop in enumerate(range((number - 1) * STOPS_PER_ROUTE + 1,
                                                  min(number * STOPS_PER_ROUTE, stops) + 1), start=1)
            for clock in [f"{_seconds(start) // 3600 + sequence // 30:02d}:{(sequence * 2) % 60:02d}:00"]
        ]),
        "frequencies.txt": _csv(("trip_id", "start_time", "end_time", "headway_secs"), [
            (f"R{number}-{service}", start, end, headways[service])
            for number in range(1, routes + 1) for service, (start, end, _) in SERVICE_HOURS.items()
        ]),
        "citypeers_demo_readme.txt": f"Demo GTFS feed of {name} for {year}, generated by citypeers "
        "(figures are demo assumptions, not a real timetable).\n".encode(),
    }
    if city_id in CALENDAR_DATES_ONLY:
        files["calendar_dates.txt"] = _csv(("service_id", "date", "exception_type"), _service_dates(year))
    else:
        files["calendar.txt"] = _csv(
            ("service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
             "start_date", "end_date"),
            [(service, *flags, f"{year}0101", f"{year}1231")
             for service, flags in (("WK", (1, 1, 1, 1, 1, 0, 0)), ("WE", (0, 0, 0, 0, 0, 1, 1)))],
        )
        new_year = date(year, 1, 1)
        if new_year.weekday() < 5:
            files["calendar_dates.txt"] = _csv(("service_id", "date", "exception_type"), [
                ("WK", f"{year}0101", 2), ("WE", f"{year}0101", 1)])
    return files


def write(root: Path, cities: list[dict[str, str]], years: tuple[int, ...], seed: int) -> dict[str, int]:
    """Write `root/gtfs/<year>/<city_id>.zip` for every city and year, and `root/gtfs/urls.csv`,
    the feed's URL-to-city mapping (`{year}/<city_id>.zip,<city_id>`: relative to the feed's
    location, the demo server's `/gtfs/`, so a test that moves the server's port keeps it valid);
    returns counts for the summary."""
    folder = Path(root) / "gtfs"
    shutil.rmtree(folder, ignore_errors=True)
    first_year = min(years)
    count = 0
    for year in sorted(years):
        (folder / str(year)).mkdir(parents=True)
        for city in cities:
            files = feed_files(city, year, first_year, seed)
            (folder / str(year) / f"{city['city_id']}.zip").write_bytes(zip_bytes(files))
            count += 1
    urls = [("url", "city_key"), *((f"{{year}}/{city['city_id']}.zip", city["city_id"]) for city in cities)]
    (folder / URLS_FILE).write_bytes(_csv(urls[0], urls[1:]))
    return {"gtfs_feeds": count}
