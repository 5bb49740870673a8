"""Candidate files written the way a parser's step leaves them, for tests of the ingest gate.

A test that writes candidates directly (instead of parsing a payload) can hand the gate any row a
parser might produce, including rows no parser of today produces: the gate, not the parsers, is
what keeps a row out of the warehouse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from citypeers import paths
from citypeers.ingest import parsed_columns
from tests.citypeers_home import temporary_home


def indicator_row(source_row: int, **cells: Any) -> dict[str, Any]:
    """A good indicator row (madrid's recycled share, 2024, 30 percent), changed by `cells`."""
    row = {"city_id": "madrid", "indicator_code": "msw_recycled_share", "year": 2024, "value": 30.0,
           "unit": "percent", "basis": "rate", "source_value": 30.0, "source_unit": "%",
           "source_ref": f"sheet.csv, row {source_row}", "payload_sha256": "sha-test", "source_row": source_row}
    return {**row, **cells}


def write(home: Path, source: str, feed_id: str, period: str, rows: list[dict[str, Any]],
          *selects: str) -> Path:
    """The period's candidates file below `home`: every parsed column, those a row lacks NULL. Each
    of `selects` (SQL naming some parsed columns) adds its rows too, for many generated rows."""
    with temporary_home(home):
        target = paths.candidates_file(source, feed_id, period)
    target.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE candidates ({parsed_columns(source)})")
        for row in rows:
            cells = {"source": source, "feed_id": feed_id, "period": period, **row}
            placeholders = ", ".join("?" * len(cells))
            con.execute(f"INSERT INTO candidates ({', '.join(cells)}) VALUES ({placeholders})", list(cells.values()))
        for select in selects:
            con.execute(f"INSERT INTO candidates BY NAME SELECT '{source}' AS source, '{feed_id}' AS feed_id, "
                        f"'{period}' AS period, * FROM ({select})")
        con.execute(f"COPY candidates TO '{target}' (FORMAT parquet)")
    return target


def hours_sql(station_id: str, city_id: str, start: str, end: str, value: float, first_row: int = 1) -> str:
    """Every hour in [start, end) of one station's PM2.5, valid, at one value, its local date the UTC date."""
    return f"""
        SELECT '{station_id}' AS station_id, '{city_id}' AS city_id, 'pm25' AS pollutant, hour AS measured_at_utc,
               hour::DATE AS local_date, {value} AS value, 'µg/m³' AS unit, {value} AS source_value,
               'µg/m³' AS source_unit, true AS is_valid, 'sha-{station_id}' AS payload_sha256,
               {first_row - 1} + row_number() OVER (ORDER BY hour) AS source_row
        FROM range(TIMESTAMP '{start}', TIMESTAMP '{end}', INTERVAL 1 HOUR) AS hours(hour)
    """
