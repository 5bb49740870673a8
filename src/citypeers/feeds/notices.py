"""Validation notices: what a feed's check against its standard found, and what that does to the figures.

A notice is (feed_id, period, file, row, field, code, severity, message). `code` comes from the
standard's validator where one exists (the MobilityData GTFS validator's notice codes, the GBFS
JSON Schema keywords), `row` counts as that validator counts (a CSV file's header is row 1).
The severity says what happens, per code, as docs/feed_validation.md lists it:

- `error`: the problem changes an indicator and its rows cannot simply be left out. The interval
  fails with a FeedError naming file, row, field and code; nothing is published.
- `flagged`: the affected rows are left out and the figure is published *flagged* with the share
  of rows left out (parsed column `left_out_share`): shown, left out of ranks and trends, like a
  value below the completeness rule.
- `notice`: a breach of the standard that changes no indicator: published, recorded.
- `warning`: recorded (what the validators call a warning or info: unknown files or columns, ...).

Every notice of an ingest is written to `notices/<source>/<feed_id>/<period>.parquet` below
CITYPEERS_HOME (also when an error fails the interval, so the data-health dashboard says why),
and reaches the mart `fct_feed_notices`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import duckdb

from citypeers import paths
from citypeers.errors import FeedError

SEVERITIES = ("error", "flagged", "notice", "warning")
POLICY_DOC = "docs/feed_validation.md"
# The notices table, in file order (the ingest adds source, feed_id and period).
NOTICE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "VARCHAR"),
    ("feed_id", "VARCHAR"),
    ("period", "VARCHAR"),
    ("file", "VARCHAR"),
    ("row", "BIGINT"),
    ("field", "VARCHAR"),
    ("code", "VARCHAR"),
    ("severity", "VARCHAR"),
    ("message", "VARCHAR"),
)
# An error message names at most this many errors (all of them are in the notices file).
ERRORS_NAMED = 5
# Notices kept one by one per file, code and severity; the rest are counted in one more notice.
NOTICES_PER_CODE = 100


@dataclass(frozen=True)
class Notice:
    """One finding: where (file, row, field), what (code), what it does (severity), in words (message)."""

    file: str
    code: str
    severity: str
    message: str
    row: int | None = None
    field: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r} (one of {', '.join(SEVERITIES)})")

    def describe(self) -> str:
        where = self.file + (f" row {self.row}" if self.row is not None else "") + (
            f" field {self.field}" if self.field else "")
        return f"{where}: {self.code} ({self.message})"


@dataclass
class Notices:
    """The notices of one feed and period, in the order they were found."""

    feed_id: str
    period: str
    found: list[Notice] = field(default_factory=list)
    _counts: dict[tuple[str, str, str], int] = field(default_factory=dict, repr=False)
    _summaries: dict[tuple[str, str, str], int] = field(default_factory=dict, repr=False)

    def add(self, file: str, code: str, severity: str, message: str, *, row: int | None = None,
            field: str | None = None) -> None:
        """Record a notice; past NOTICES_PER_CODE of one file, code and severity, only count it."""
        notice = Notice(file=file, code=code, severity=severity, message=message, row=row, field=field)
        key = (file, code, severity)
        self._counts[key] = count = self._counts.get(key, 0) + 1
        if count <= NOTICES_PER_CODE:
            self.found.append(notice)
        else:
            self._summarise(key, notice, count - NOTICES_PER_CODE)

    def add_more(self, file: str, code: str, severity: str, more: int) -> None:
        """Count `more` notices of a file, code and severity that a check did not list one by one."""
        key = (file, code, severity)
        self._counts[key] = self._counts.get(key, 0) + more
        self._summarise(key, Notice(file=file, code=code, severity=severity, message="-"),
                        max(self._counts[key] - NOTICES_PER_CODE, more))

    def _summarise(self, key: tuple[str, str, str], notice: Notice, more: int) -> None:
        summary = replace(notice, row=None, field=None,
                          message=f"{more} more row(s) with this notice, not listed one by one")
        if key in self._summaries:
            self.found[self._summaries[key]] = summary
        else:
            self._summaries[key] = len(self.found)
            self.found.append(summary)

    def add_rows(self, rows) -> None:
        """Notices from query rows (file, row, field, code, severity, message): how SQL checks report."""
        for file, row, column, code, severity, message in rows:
            self.add(file, code, severity, message, row=None if row is None else int(row), field=column)

    def of_severity(self, severity: str) -> list[Notice]:
        return [notice for notice in self.found if notice.severity == severity]

    def codes(self) -> set[tuple[str, str]]:
        """(code, severity) pairs found, for tests and summaries."""
        return {(notice.code, notice.severity) for notice in self.found}

    def raise_for_errors(self, *, where: str) -> None:
        """Fail the interval when any notice is an error, naming file, row, field and code of each
        (the first few; the notices file holds them all)."""
        errors = self.of_severity("error")
        if not errors:
            return
        named = "; ".join(notice.describe() for notice in errors[:ERRORS_NAMED])
        more = f"; and {len(errors) - ERRORS_NAMED} more" if len(errors) > ERRORS_NAMED else ""
        raise FeedError(
            self.feed_id,
            f"{len(errors)} error(s) against the standard, nothing published for {self.period}: {named}{more}",
            where=where,
            action=f"fix the feed at the named file, row and field and rerun this interval (every notice is in "
            f"notices/<source>/{self.feed_id}/{self.period}.parquet below CITYPEERS_HOME and in fct_feed_notices; "
            f"severity policy per code: {POLICY_DOC})",
        )

    def write(self, source: str) -> None:
        """Replace the period's notices file (atomically: temp file, then rename)."""
        target = paths.notices_file(source, self.feed_id, self.period)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with duckdb.connect() as con:
            con.execute(f"CREATE TABLE notices ({_column_list()})")
            if self.found:
                con.executemany(
                    "INSERT INTO notices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [[source, self.feed_id, self.period, n.file, n.row, n.field, n.code, n.severity, n.message]
                     for n in self.found],
                )
            con.execute(f"COPY notices TO '{temporary}' (FORMAT parquet, COMPRESSION zstd)")
        os.replace(temporary, target)


def _column_list() -> str:
    return ", ".join(f'"{name}" {sql_type}' for name, sql_type in NOTICE_COLUMNS)


def ensure_schema_file() -> None:
    """A zero-row notices file, so the warehouse reads the notices tree before any feed wrote one."""
    target = paths.home() / "notices" / "_schema.parquet"
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE notices ({_column_list()})")
        con.execute(f"COPY notices TO '{target}' (FORMAT parquet)")
