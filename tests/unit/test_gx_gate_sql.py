"""The GX gate that hands GX only the rows a suite's SQL predicates flag (CITYPEERS_GX_GATE=sql, the
default) quarantines the same rows with the same reasons, and fails the same contracts, as the gate
that hands GX every row (CITYPEERS_GX_GATE=full), on the same dirty candidates of every parsed
suite; and on a clean table GX sees no row but its one witness."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import duckdb
import pytest

from citypeers import ingest, validation
from citypeers.ingest import parsed_columns
from citypeers.suite_sql import row_predicates
from citypeers.validation import load_suite
from tests.citypeers_home import temporary_home

SOURCES = ["eea_air", "openaq_air", "indicator_template", "gbfs", "gtfs", "sdmx_csv", "wide_table", "practices"]
# Cells that break some expectation, by column type: missing values (NULL and NaN, which pandas
# also counts as missing), values out of any range, text outside any set.
DIRTY = {
    "VARCHAR": [None, "other", "x"],
    "DOUBLE": [None, math.nan, math.inf, -math.inf, -1.0, 0.0, 5000.0, 5000.5, 1e7],
    "INTEGER": [None, -1, 0],
    "BIGINT": [None, -1],
    "BOOLEAN": [None],
    "DATE": [None],
    "TIMESTAMP": [None],
}
# Clean cells, from small pools so that keys repeat now and then.
CLEAN = {
    "VARCHAR": ["a", "b", "c", "d", "e", "f"],
    "DOUBLE": [0.5, 12.0, 30.0, 4999.0],
    "INTEGER": [2023, 2024, 2025],
    "BIGINT": [1, 2, 3],
    "BOOLEAN": [True, False],
    "DATE": ["2025-01-01", "2025-01-02"],
    "TIMESTAMP": ["2025-01-01 00:00:00", "2025-01-01 01:00:00", "2025-01-01 02:00:00"],
}


def _columns(source: str) -> list[tuple[str, str]]:
    return [tuple(part.rsplit(" ", 1)) for part in parsed_columns(source).split(", ")]


def _set_values(suite: dict) -> dict[str, list]:
    return {e["kwargs"]["column"]: e["kwargs"]["value_set"] for e in suite["expectations"]
            if e["type"] == "expect_column_values_to_be_in_set"}


def _rows(source: str, count: int, dirt: float, seed: int) -> list[list]:
    """`count` candidate rows; each cell dirty with probability `dirt`, key columns (the first of a
    unique key, text in every parsed suite) from a pool ten times the row count."""
    rng = random.Random(seed)
    suite = load_suite(f"parsed__{source}")
    in_set = _set_values(suite)
    keys = {e["kwargs"].get("column") or e["kwargs"]["column_list"][0] for e in suite["expectations"]
            if e["type"] in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")}
    rows = []
    for _ in range(count):
        row = []
        for name, sql_type in _columns(source):
            if name == "parse_error":
                row.append(rng.choice(["cell 'x' is not a number"]) if rng.random() < dirt else None)
            elif name in keys and rng.random() >= dirt:  # a key column repeats now and then
                row.append(f"key{rng.randrange(count * 10)}")
            elif rng.random() < dirt:
                row.append(rng.choice(DIRTY[sql_type]))
            else:
                row.append(rng.choice(in_set.get(name) or CLEAN[sql_type]))
        rows.append(row)
    return rows


def _candidates(home: Path, source: str, rows: list[list]) -> duckdb.DuckDBPyConnection:
    """The candidates view the gate reads, over a Parquet file of `rows`."""
    target = home / f"{source}.parquet"
    with duckdb.connect() as con:
        con.execute(f"create table candidates ({parsed_columns(source)})")
        if rows:
            con.executemany(f"insert into candidates values ({', '.join('?' * len(rows[0]))})", rows)
        con.execute(f"copy candidates to '{target}' (format parquet)")
    con = duckdb.connect()
    con.execute(f"create view candidates as select * from read_parquet('{target}', file_row_number = true)")
    return con


def _verdict(con, source: str, total: int, mode: str, monkeypatch):
    monkeypatch.setenv("CITYPEERS_GX_GATE", mode)
    outcome = ingest._gx_gate(con, f"parsed__{source}", total, run_label=f"test_{mode}")
    contract = sorted((f.expectation, str(f.column), f.unexpected_count) for f in outcome.contract_failures)
    return outcome, outcome.quarantine_reasons(), contract


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("chunk_rows", ["100000", "40"])
def test_the_sql_flagged_gate_quarantines_the_same_rows_for_the_same_reasons_as_the_full_gate(
        tmp_path, monkeypatch, source, chunk_rows):
    monkeypatch.setenv("CITYPEERS_GX_CHUNK_ROWS", chunk_rows)
    rows = _rows(source, 400, dirt=0.04, seed=len(source))
    with temporary_home(tmp_path / "home"):
        con = _candidates(tmp_path, source, rows)
        full, full_reasons, full_contract = _verdict(con, source, len(rows), "full", monkeypatch)
        sql, sql_reasons, sql_contract = _verdict(con, source, len(rows), "sql", monkeypatch)
    assert full_reasons, "the dirty candidates must give the gate something to quarantine"
    assert len(full_reasons) < len(rows), "and something to publish"
    assert sql_reasons == full_reasons
    assert sql_contract == full_contract
    assert full.gx_rows == len(rows) and sql.row_count == len(rows)
    assert sql.gx_rows == len(sql_reasons) + 1 < len(rows)


@pytest.mark.parametrize("source", ["eea_air", "practices"])
def test_an_empty_period_fails_the_same_contracts_in_both_gates(tmp_path, monkeypatch, source):
    with temporary_home(tmp_path / "home"):
        con = _candidates(tmp_path, source, [])
        _, full_reasons, full_contract = _verdict(con, source, 0, "full", monkeypatch)
        _, sql_reasons, sql_contract = _verdict(con, source, 0, "sql", monkeypatch)
    assert sql_reasons == full_reasons == {}
    assert sql_contract == full_contract
    if source == "eea_air":  # its suite wants at least one row
        assert [c[0] for c in sql_contract] == ["expect_table_row_count_to_be_between"]


def test_a_missing_contract_column_fails_the_same_in_both_gates(tmp_path, monkeypatch):
    rows = _rows("eea_air", 50, dirt=0.0, seed=1)
    with temporary_home(tmp_path / "home"):
        con = _candidates(tmp_path, "eea_air", rows)
        con.execute("create or replace view candidates as select * exclude (is_valid) from read_parquet("
                    f"'{tmp_path / 'eea_air.parquet'}', file_row_number = true)")
        _, _, full_contract = _verdict(con, "eea_air", len(rows), "full", monkeypatch)
        _, _, sql_contract = _verdict(con, "eea_air", len(rows), "sql", monkeypatch)
    assert [c[0] for c in sql_contract] == ["expect_table_columns_to_match_set"]
    assert sql_contract == full_contract


def test_a_clean_table_goes_through_gx_as_one_witness_row_with_its_real_row_count_recorded(tmp_path, monkeypatch):
    rows = _rows("indicator_template", 300, dirt=0.0, seed=3)
    for number, row in enumerate(rows):  # unique keys: city_id, indicator_code, year
        row[3], row[5] = f"city{number}", 2024
    with temporary_home(tmp_path / "home") as home:
        con = _candidates(tmp_path, "indicator_template", rows)
        outcome, reasons, contract = _verdict(con, "indicator_template", len(rows), "sql", monkeypatch)
        summary = json.loads(outcome.results_file.read_text())["summary"]
        recorded = duckdb.sql(f"select row_count from read_parquet('{home}/validation/runs/*test_sql.parquet')")
        recorded_rows = recorded.fetchone()[0]
    assert (reasons, contract) == ({}, [])
    assert outcome.gx_rows == 1
    assert summary["row_count"] == recorded_rows == 300 and summary["gx_rows"] == 1


def test_the_row_count_is_judged_on_the_table_not_on_the_rows_gx_sees(tmp_path, monkeypatch):
    """A suite wanting 10 to 30 rows passes a clean table of 20 rows, of which GX sees one."""
    suite = load_suite("parsed__eea_air")
    for expectation in suite["expectations"]:
        if expectation["type"] == "expect_table_row_count_to_be_between":
            expectation["kwargs"] = {"min_value": 10, "max_value": 30}
    monkeypatch.setattr(validation, "load_suite", lambda name: suite)
    rows = _rows("eea_air", 20, dirt=0.0, seed=5)
    for number, row in enumerate(rows):  # unique keys: station_id, pollutant, measured_at_utc
        row[3] = f"station{number}"
    with temporary_home(tmp_path / "home"):
        con = _candidates(tmp_path, "eea_air", rows)
        sql, _, sql_contract = _verdict(con, "eea_air", len(rows), "sql", monkeypatch)
        _, _, too_many = _verdict(con, "eea_air", 40, "sql", monkeypatch)  # as if the table held 40
    assert sql.gx_rows == 1 and sql_contract == []
    assert [c[0] for c in too_many] == ["expect_table_row_count_to_be_between"]


def test_an_expectation_sql_cannot_express_leaves_the_suite_to_gx_alone():
    types = {"value": "DOUBLE", "name": "VARCHAR"}
    assert row_predicates({"expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "value", "min_value": 0, "mostly": 0.9}},
    ]}, types, "t") is None
    assert row_predicates({"expectations": [
        {"type": "expect_column_pair_values_a_to_be_greater_than_b", "kwargs": {"column_A": "value"}},
    ]}, types, "t") is None
    assert row_predicates({"expectations": [
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "name", "value_set": [1, 2]}},
    ]}, types, "t") is None
    assert row_predicates({"expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "absent"}},
    ]}, types, "t") is None
    assert len(row_predicates(load_suite("parsed__eea_air"), dict.fromkeys(
        [c for c, _ in _columns("eea_air")], "VARCHAR") | {"value": "DOUBLE"}, "t")) == 8
