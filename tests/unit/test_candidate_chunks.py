"""The GX gate's chunks: every candidate row exactly once, the rows of one key together, none empty."""

from __future__ import annotations

import duckdb
import pytest

from citypeers.ingest import candidate_chunks

KEYS = ["a"] * 5 + ["b", "c"] + [None] * 2 + ["d"]


@pytest.fixture
def con():
    con = duckdb.connect()
    keys = ", ".join("NULL" if key is None else f"'{key}'" for key in KEYS)
    con.execute(f"create view candidates as select unnest([{keys}]) as station_id, "
                 "generate_subscripts([{keys}], 1) - 1 as file_row_number".replace("{keys}", keys))
    yield con
    con.close()


@pytest.mark.parametrize("chunk_rows", ["1", "3", "4", "100"])
def test_chunks_hold_every_row_once_and_never_split_a_key(con, monkeypatch, chunk_rows):
    monkeypatch.setenv("CITYPEERS_GX_CHUNK_ROWS", chunk_rows)
    chunks = list(candidate_chunks(con, len(KEYS), "station_id"))

    assert sorted(index for chunk in chunks for index in chunk.index) == list(range(len(KEYS)))
    assert all(len(chunk) > 0 for chunk in chunks)
    chunk_of_key: dict = {}
    for number, chunk in enumerate(chunks):
        for key in chunk["station_id"].fillna("(null)"):
            assert chunk_of_key.setdefault(key, number) == number, f"key {key} split across chunks"
    if chunk_rows == "100":
        assert len(chunks) == 1
    if chunk_rows == "3":  # 10 rows, about 3 per chunk: a's 5 rows alone, then the others
        assert len(chunks) >= 3 and len(chunks[0]) == 5
