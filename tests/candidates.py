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


def write(home: Path, source: str, feed_id: str, period: str, rows: list[dict[str, Any]]) -> Path:
    """The period's candidates file below `home`: every parsed column, those a row lacks NULL."""
    with temporary_home(home):
        target = paths.candidates_file(source, feed_id, period)
    target.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE candidates ({parsed_columns(source)})")
        for row in rows:
            cells = {"source": source, "feed_id": feed_id, "period": period, **row}
            placeholders = ", ".join("?" * len(cells))
            con.execute(f"INSERT INTO candidates ({', '.join(cells)}) VALUES ({placeholders})", list(cells.values()))
        con.execute(f"COPY candidates TO '{target}' (FORMAT parquet)")
    return target
