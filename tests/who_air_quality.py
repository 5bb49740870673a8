"""A small table laid out like the WHO ambient air quality database, and its feeds.yml entry.

What makes the real database hard to read as published, in eight lines: a UTF-8 byte-order mark,
two lines (a title and a note) above the header, column names that repeat (PM10 and PM2.5 each
have a "Year", an "Annual mean, ug/m3" and a "Temporal coverage" column), cells that are not
measurements ("(10)-converted value": a PM2.5 figure estimated from PM10), a country column that
tells Athens, Greece from Athens, USA, and cities no registry benchmarks.

Columns: #1 Region, #2 ISO3, #3 Country, #4 City/Town, #5 Year (PM10), #6 Annual mean (PM10),
#7 Temporal coverage, #8 Year (PM2.5), #9 Annual mean (PM2.5), #10 Temporal coverage, #11 stations.
Data rows (row 1 = line 4 of the file), all 2019:
  1 Athens, GRC: PM10 35, PM2.5 16                     → both published (athens)
  2 Athens, USA: PM10 22, PM2.5 9                      → out of scope (the registry's Athens is in Greece)
  3 Madrid, ESP: PM10 24, PM2.5 '(10)-converted value'  → PM10 published; PM2.5 not a measurement
  4 Valencia, VEN: PM10 60, PM2.5 30                   → out of scope (the registry's Valencia is in Spain)
  5 Paris, FRA: PM10 20, PM2.5 empty                   → PM10 published; PM2.5 no value (empty cell)
  6 Lyon, FRA: PM10 'n/a', PM2.5 11                    → PM10 not a number; PM2.5 published
  7 Springfield, USA: PM10 18, PM2.5 7                 → out of scope (no such registry city)
"""

from __future__ import annotations

from pathlib import Path

TABLE = (
    "\ufeffWHO ambient air quality database (style test fixture, not WHO data)\n"
    '"Annual means, ug/m3; converted values are estimates, see the notes sheet",,,,\n'
    'Region,ISO3,Country,City/Town,Year,"Annual mean, ug/m3",Temporal coverage,'
    'Year,"Annual mean, ug/m3",Temporal coverage,Number and type of monitoring stations\n'
    'Eur (HI),GRC,Greece,Athens,2019,35,>75%,2019,16,>75%,"3 urban, 2 traffic"\n'
    "Amr (HI),USA,United States of America,Athens,2019,22,>75%,2019,9,>75%,1 suburban\n"
    "Eur (HI),ESP,Spain,Madrid,2019,24,>75%,2019,(10)-converted value,,\n"
    "Amr (LMI),VEN,Venezuela,Valencia,2019,60,>50%,2019,30,>50%,1 urban\n"
    "Eur (HI),FRA,France,Paris,2019,20,>75%,2019,,,4 urban\n"
    "Eur (HI),FRA,France,Lyon,2019,n/a,,2019,11,>75%,2 urban\n"
    "Amr (HI),USA,United States of America,Springfield,2019,18,>75%,2019,7,>75%,1 urban\n"
)

# The feeds.yml entry a data engineer writes for it (docs/adding_feeds.md, wide_table).
FEED_YAML = """
feeds:
  - feed_id: who_air
    source: wide_table
    location: "{location}"
    schedule: "@yearly"
    options:
      header_row: 3                  # a title and a note above the header
      city_column: City/Town
      country_column: ISO3           # Athens, USA is not Athens, Greece
      year_column: "#5"              # "Year" is there twice: address it by position
      not_a_measurement: "converted value$"
      indicators:
        - {indicator_code: pm10_annual_mean, value: "#6", unit: ug/m3}
        - {indicator_code: pm25_annual_mean, value: "#9", unit: ug/m3,
           note: WHO ambient air quality database (city annual mean)}
"""


def write(folder: Path) -> tuple[Path, Path]:
    """The table and a feeds.yml naming it, in `folder`: (table, registry)."""
    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "who_aap_database.csv"
    table.write_bytes(TABLE.encode("utf-8"))
    registry = folder / "feeds.yml"
    registry.write_text(FEED_YAML.replace("{location}", str(table)), encoding="utf-8")
    return table, registry
